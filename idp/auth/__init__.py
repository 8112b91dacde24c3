"""Hosted pages: sign-in, consent, sign-out. They finish through oauth.interaction."""
