"""One line for subjects, headers and titles, whatever text they are made from."""

from email.message import EmailMessage
from email.policy import SMTP

from hypothesis import given
from hypothesis import strategies as st

from atalaia.lib.text import as_title, first_line, one_line


@given(st.text())
def test_any_text_becomes_one_header_safe_line(text):
    line = one_line(text, 300)
    assert len(line) <= 300 and line == line.strip()
    assert not any(c in line for c in "\r\n\x00\x0b\x0c\x85\u2028\u2029")
    message = EmailMessage(policy=SMTP)
    message["Subject"] = line  # the mail library refuses a header with a line break
    message["X-Note"] = line


def test_breaks_and_controls_become_one_space_and_long_text_is_cut():
    assert one_line(" a\r\nb\u2028c\u2029d\x85e\x00f\tg  h ") == "a b c d e f g h"
    assert one_line("abcdef", 4) == "abc…"


def test_the_first_line_is_the_title_and_the_rest_is_kept():
    assert first_line("Seller portal returns 503.\nLB health checks failing.") == (
        "Seller portal returns 503.", "LB health checks failing.")
    assert first_line("\r\n  \r\na\r\nb\r\n\r\nc") == ("a", "b\n\nc")
    assert first_line("x" * 10 + "\nmore", 5) == ("xxxx…", "x" * 10 + "\nmore")
    assert as_title("a\nb", 200) == "a\nb" and as_title("a", 200) == "a"
