from __future__ import annotations

from django import forms


class ApiKeyForm(forms.Form):
    secret = forms.CharField(
        label="API key",
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "placeholder": "sk-…"}
        ),
        help_text="Stored encrypted; after saving only its last characters are ever shown.",
    )
    label = forms.CharField(label="Label (optional)", required=False, max_length=100)

    def clean_secret(self) -> str:
        secret = self.cleaned_data["secret"]
        if any(ch.isspace() for ch in secret):
            raise forms.ValidationError("An API key has no spaces or line breaks.")
        if len(secret) < 8:
            raise forms.ValidationError("That is too short to be an API key.")
        return secret
