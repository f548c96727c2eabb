from django import forms
from django.contrib.auth.forms import UserCreationForm

from moderation.models import AuditAction, BankAction, HashBank, ModeratorPreference, RejectReason, Verdict


class DecisionForm(forms.Form):
    verdict = forms.ChoiceField(choices=[(Verdict.APPROVE, "Approve"), (Verdict.REJECT, "Reject")])
    label = forms.ChoiceField(required=False)
    reason_code = forms.ChoiceField(choices=[("", "—")] + list(RejectReason.choices), required=False)
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    bank = forms.ModelChoiceField(
        queryset=HashBank.objects.none(),
        required=False,
        empty_label="do not add to a bank",
        label="On reject, add to bank",
    )

    def __init__(self, *args, labels: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["label"].choices = [("", "keep the predicted label")] + [(name, name) for name in labels]
        self.fields["bank"].queryset = HashBank.objects.filter(enabled=True).exclude(action=BankAction.ALLOW)


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional; without it you cannot reset a forgotten password.")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = ModeratorPreference
        fields = ["blur_flagged", "greyscale_flagged"]


class AuditSearchForm(forms.Form):
    q = forms.CharField(required=False, label="Target id or actor")
    action = forms.ChoiceField(required=False, choices=[("", "any action")] + list(AuditAction.choices))
    since = forms.DateTimeField(required=False)
    until = forms.DateTimeField(required=False)
