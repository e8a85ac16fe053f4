from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from atalaia.review import postmortem
from atalaia.review.models import Review


class Command(BaseCommand):
    help = "Write an incident's post-mortem as Markdown, HTML or PDF."

    def add_arguments(self, parser):
        parser.add_argument("incident", type=int)
        parser.add_argument("--format", dest="fmt", choices=list(postmortem.FORMATS),
                            default="md")
        parser.add_argument("--output", required=True, help="the file to write ('-': stdout)")

    def handle(self, *args, incident, fmt, output, **options):
        review = Review.objects.select_related("incident").filter(incident_id=incident).first()
        if review is None:
            raise CommandError(f"incident {incident} has no review (it opens once the "
                               "incident is resolved)")
        content, _type, _name = postmortem.export(review, fmt)
        if output == "-":
            if fmt == "pdf":
                raise CommandError("write the PDF to a file, not to the terminal")
            self.stdout.write(content.decode(), ending="")
            return
        Path(output).write_bytes(content)
        self.stdout.write(f"post-mortem of incident {incident} written to {output} "
                          f"({len(content):,} bytes)")
