// The sending method's fields only: SMTP's for SMTP, each ESP's own for an ESP's API
// (docs/delivery.md, "ESP APIs"). Without JavaScript every field stays shown.
(function () {
  "use strict";
  var SMTP = ["smtp_host", "smtp_port", "smtp_security", "smtp_username", "smtp_password",
    "clear_smtp_password"];
  var API = ["esp_api_key", "clear_esp_api_key", "esp_api_url"];
  var SHOWN = {
    smtp: SMTP,
    postmark: API,
    sendgrid: API,
    mailgun: API.concat(["esp_domain", "esp_region"]),
    amazon_ses: API.concat(["esp_access_key_id", "esp_region"])
  };
  var ALL = SMTP.concat(API, ["esp_domain", "esp_region", "esp_access_key_id"]);
  function update(select) {
    var shown = SHOWN[select.value] || SMTP;
    ALL.forEach(function (name) {
      var row = document.querySelector(".form-row.field-" + name) ||
        document.querySelector(".field-" + name);
      if (row) {
        row.hidden = shown.indexOf(name) < 0;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_sending_method");
    if (!select) {
      return;
    }
    select.addEventListener("change", function () { update(select); });
    update(select);
  });
})();
