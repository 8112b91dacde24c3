// WebAuthn ceremonies for the hosted pages (passkey sign-in, second factor, registration).
//
// A form marked data-webauthn-ceremony="get" or "create" runs the ceremony when submitted:
// POST data-options-url (X-CSRFToken from the form's csrf_token field) for the options JSON,
// navigator.credentials.get/create, then the credential's toJSON() goes into the form's
// hidden "credential" field and the form is submitted for real (the server answers with a
// redirect or the page again with an error). Elements marked data-webauthn stay hidden, and
// data-webauthn-unsupported ones stay shown, where the browser cannot do WebAuthn.
(function () {
  "use strict";

  if (window.idpWebAuthnLoaded) {
    return; // included twice on one page: bind the forms once
  }
  window.idpWebAuthnLoaded = true;

  var supported = Boolean(
    window.PublicKeyCredential &&
      window.isSecureContext &&
      typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function" &&
      typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function"
  );

  var MESSAGES = {
    NotAllowedError: "The passkey request was cancelled or timed out.",
    InvalidStateError: "This passkey is already registered for your account.",
    SecurityError: "Passkeys cannot be used on this address.",
    NotSupportedError: "This device has no suitable passkey or security key.",
    AbortError: "The passkey request was cancelled."
  };

  function showError(form, message) {
    var box = form.querySelector("[data-webauthn-error]");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  }

  function fetchOptions(form) {
    var token = form.querySelector('input[name="csrf_token"]');
    return fetch(form.dataset.optionsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": token ? token.value : ""
      },
      body: "{}"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          throw new Error(body.error || body.detail || "The passkey request could not start.");
        }
        return body;
      });
    });
  }

  function ceremony(form, options) {
    if (form.dataset.webauthnCeremony === "create") {
      return navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options)
      });
    }
    return navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)
    });
  }

  function run(event) {
    var form = event.currentTarget;
    event.preventDefault();
    if (form.dataset.busy === "1") {
      return;
    }
    form.dataset.busy = "1";
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (button) { button.disabled = true; });
    var done = function () {
      form.dataset.busy = "";
      buttons.forEach(function (button) { button.disabled = false; });
    };
    fetchOptions(form)
      .then(function (options) { return ceremony(form, options); })
      .then(function (credential) {
        if (!credential) {
          throw new Error("No passkey was chosen.");
        }
        form.querySelector('input[name="credential"]').value = JSON.stringify(credential.toJSON());
        form.submit();
      })
      .catch(function (error) {
        done();
        showError(form, MESSAGES[error && error.name] || (error && error.message) ||
          "The passkey request failed.");
      });
  }

  function init() {
    document.querySelectorAll("[data-webauthn]").forEach(function (element) {
      element.hidden = !supported;
    });
    document.querySelectorAll("[data-webauthn-unsupported]").forEach(function (element) {
      element.hidden = supported;
    });
    if (!supported) {
      return;
    }
    document.querySelectorAll("form[data-webauthn-ceremony]").forEach(function (form) {
      form.addEventListener("submit", run);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
