from django import forms
from django.contrib.auth.forms import UserCreationForm

from moderation.errors import ApplicationError
from moderation.models import AuditAction, BankAction, HashBank, ModeratorPreference, RejectReason, Verdict
from moderation.services.accounts import username_check


class DecisionForm(forms.Form):
    verdict = forms.ChoiceField(choices=[(Verdict.APPROVE, "Approve"), (Verdict.REJECT, "Reject")])
    label = forms.ChoiceField(required=False)
    reason_code = forms.ChoiceField(
        choices=[("", f"none chosen: records “{RejectReason.OTHER.label}”")] + list(RejectReason.choices),
        required=False,
        label="Reason (on reject)",
    )
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
    """The sign-up page's fields; the account is made by `account_create`,
    which checks the username again."""

    email = forms.EmailField(required=False, help_text="Optional; without it you cannot reset a forgotten password.")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def clean_username(self):
        username = super().clean_username()
        try:
            username_check(username=username)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None
        return username


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = ModeratorPreference
        fields = ["blur_flagged", "greyscale_flagged"]


class AuditSearchForm(forms.Form):
    q = forms.CharField(required=False, label="Target id or actor")
    action = forms.ChoiceField(required=False, choices=[("", "any action")] + list(AuditAction.choices))
    since = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


# A list of a million hashes is about 65 MB of text; the page takes a tenth of
# that (the `bank_import` command takes any size).
BANK_LIST_MAX_BYTES = 8 * 1024 * 1024


class BankFileForm(forms.Form):
    image = forms.FileField(label="Image file", help_text="Its PDQ hash is added; the image itself is not kept.")
    note = forms.CharField(required=False, max_length=500)

    def image_bytes(self) -> bytes:
        return self.cleaned_data["image"].read()


class BankImportForm(forms.Form):
    file = forms.FileField(
        required=False,
        label="List file",
        help_text="CSV with a pdq_hash or signal_str column, ThreatExchange lines of “pdq” and the hash, or one hash a line.",
    )
    hashes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), label="…or paste hashes")
    note = forms.CharField(required=False, max_length=500)

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if not upload and not (cleaned.get("hashes") or "").strip():
            raise forms.ValidationError("Choose a list file or paste hashes.", code="empty_list")
        if upload and upload.size > BANK_LIST_MAX_BYTES:
            raise forms.ValidationError(
                f"The list is {upload.size:,} bytes; this page takes {BANK_LIST_MAX_BYTES:,} "
                "(the bank_import command takes any size).",
                code="list_too_large",
            )
        if upload:
            try:
                cleaned["text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError("The list is not UTF-8 text.", code="not_text") from None
        else:
            cleaned["text"] = cleaned.get("hashes") or ""
        return cleaned

    def text(self) -> str:
        return self.cleaned_data["text"]
