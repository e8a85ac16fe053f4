from django import forms
from django.utils.translation import gettext_lazy as _

from atalaia.accounts.models import User
from atalaia.review.actions import MAX_TEXT, MAX_TITLE

RATINGS = [(n, str(n)) for n in range(1, 6)]


class FeedbackForm(forms.Form):
    worked = forms.CharField(label=_("What worked"), required=False, max_length=MAX_TEXT,
                             widget=forms.Textarea(attrs={"rows": 4}))
    did_not = forms.CharField(label=_("What did not work"), required=False,
                              max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 4}))
    plan_rating = forms.TypedChoiceField(label=_("How well did the plan work? (1–5)"),
                                         choices=RATINGS, coerce=int,
                                         widget=forms.RadioSelect)
    tools_rating = forms.TypedChoiceField(label=_("How well did the tools work? (1–5)"),
                                          choices=RATINGS, coerce=int,
                                          widget=forms.RadioSelect)


class ActionItemForm(forms.Form):
    title = forms.CharField(label=_("Action item"), max_length=MAX_TITLE)
    owner = forms.ModelChoiceField(label=_("Owner"), required=False,
                                   queryset=User.objects.filter(is_active=True)
                                   .order_by("username"), to_field_name="username")
    due_on = forms.DateField(label=_("Due on"), required=False,
                             widget=forms.DateInput(attrs={"type": "date"}))
    permanent_fix = forms.BooleanField(label=_("Tracks the permanent fix"), required=False)


class SatisfactionForm(forms.Form):
    rating = forms.TypedChoiceField(label=_("How satisfied are you with how we handled it?"),
                                    choices=RATINGS, coerce=int, widget=forms.RadioSelect)
    comment = forms.CharField(label=_("Anything you would like to tell us?"), required=False,
                              max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 4}))
