// Paddock's API reference: Swagger UI over this server's own OpenAPI document. A file
// of its own rather than an inline script, so the page keeps `script-src 'self'`.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // Never send the document to the public validator (no request leaves the page).
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
