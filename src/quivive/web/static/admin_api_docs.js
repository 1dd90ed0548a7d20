// The admin API's interactive docs: starts Swagger UI (served from our own origin) on the
// element #swagger-ui. "Try it out" calls go out with the administrator's session cookie, and
// the API refuses a change made with a cookie unless it carries the X-CSRF-Token header (a
// forged cross-site form cannot send it): so before a change without a bearer token, this file
// fetches the token once from the URL in data-csrf-url and adds the header.
"use strict";

(function () {
  const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
  const root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  const header = root.dataset.csrfHeader;
  let token = null;

  function csrfToken() {
    if (token === null) {
      token = fetch(root.dataset.csrfUrl, {
        credentials: "same-origin",
        headers: { "Accept": "application/json" },
      })
        .then((response) => response.ok ? response.json() : Promise.reject(response.status))
        .then((body) => body.csrf_token)
        .catch((error) => { token = null; throw error; });
    }
    return token;
  }

  function hasBearer(headers) {
    return Object.keys(headers).some((name) => name.toLowerCase() === "authorization");
  }

  async function addCsrfHeader(request) {
    const method = String(request.method || "GET").toUpperCase();
    request.headers = request.headers || {};
    if (!SAFE.has(method) && !hasBearer(request.headers)) {
      request.headers[header] = await csrfToken();
    }
    return request;
  }

  function forgetRefusedToken(response) {
    if (response.status === 403 && response.body && response.body.error === "csrf_rejected") {
      token = null;
    }
    return response;
  }

  window.ui = window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // The default sends the schema to a validator on the internet: a leak, and a CSP violation.
    validatorUrl: null,
    requestInterceptor: addCsrfHeader,
    responseInterceptor: forgetRefusedToken,
  });
})();
