// Passkeys: one of the two places Quivive runs script (with the admin API docs page), because
// WebAuthn exists only as a browser API.
// A form marked data-passkey="register" or "authenticate" gets its options from the URL in
// data-passkey-options (a POST carrying the form's CSRF token), asks the browser for a
// credential, puts credential.toJSON() in the hidden "credential" field and submits the form:
// the server answers with an ordinary redirect. Without WebAuthn the forms stay hidden.
"use strict";

(function () {
  const api = window.PublicKeyCredential;
  const supported = Boolean(
    api && navigator.credentials &&
    typeof api.parseCreationOptionsFromJSON === "function" &&
    typeof api.parseRequestOptionsFromJSON === "function"
  );

  async function fetchOptions(form) {
    const response = await fetch(form.dataset.passkeyOptions, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": form.elements.csrf_token.value },
    });
    if (!response.ok) {
      throw new Error("passkey options refused: " + response.status);
    }
    return response.json();
  }

  function submit(form, credential) {
    form.elements.credential.value = JSON.stringify(credential.toJSON());
    form.submit();
  }

  function showError(form) {
    const message = form.querySelector("[data-passkey-error]");
    if (message) {
      message.setAttribute("role", "alert"); // set now, so it is announced when it appears
      message.hidden = false;
    }
  }

  function setUpRegistration(form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      fetchOptions(form)
        .then((json) => navigator.credentials.create({
          publicKey: api.parseCreationOptionsFromJSON(json),
        }))
        .then((credential) => submit(form, credential))
        .catch(() => showError(form));
    });
  }

  function setUpAuthentication(form) {
    // One ceremony per page: the autofill request and the button share its challenge, so the
    // browser's cookie always names the challenge the authenticator signs.
    let options = null;
    let autofill = null;
    const optionsOnce = () => {
      options = options || fetchOptions(form).then((json) => api.parseRequestOptionsFromJSON(json));
      return options;
    };
    const run = (mediation, signal) => optionsOnce()
      .then((publicKey) => navigator.credentials.get(
        mediation ? { publicKey, mediation, signal } : { publicKey }
      ))
      .then((credential) => {
        if (credential) {
          submit(form, credential);
        }
      });

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (autofill) {
        autofill.abort();
        autofill = null;
      }
      run(null, null).catch(() => {
        options = null;
        showError(form);
      });
    });
    if ("passkeyAutofill" in form.dataset && typeof api.isConditionalMediationAvailable === "function") {
      api.isConditionalMediationAvailable().then((available) => {
        if (available) {
          autofill = new AbortController();
          run("conditional", autofill.signal).catch(() => {});
        }
      });
    }
  }

  document.querySelectorAll("[data-passkey-unsupported]").forEach((note) => {
    note.hidden = supported;
  });
  document.querySelectorAll("form[data-passkey]").forEach((form) => {
    form.hidden = !supported;
    if (!supported) {
      return;
    }
    if (form.dataset.passkey === "register") {
      setUpRegistration(form);
    } else {
      setUpAuthentication(form);
    }
  });
})();
