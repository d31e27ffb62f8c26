// Penguin Mass Predictor: keep the slider and the number field in step and
// update the prediction as they move. The page works without this script:
// the form is a plain GET form.
(function () {
  "use strict";
  var form = document.querySelector("[data-testid=predict-form]");
  if (!form) return;
  var range = document.getElementById("bill-range");
  var number = document.getElementById("bill_length_mm");
  var result = document.getElementById("result");
  var timer = null;
  var inflight = null;

  function update() {
    var params = new URLSearchParams(new FormData(form));
    var url = form.getAttribute("action") + "?" + params.toString();
    if (inflight) inflight.abort();
    inflight = new AbortController();
    fetch(url, { headers: { "X-Fragment": "result" }, signal: inflight.signal })
      .then(function (resp) {
        if (resp.status === 422) {
          // Invalid input: the messages belong next to the fields, which
          // only the whole page has.
          window.location.assign(url);
          return null;
        }
        return resp.text();
      })
      .then(function (html) {
        if (html === null) return;
        result.innerHTML = html;
        history.replaceState(null, "", url);
      })
      .catch(function (err) {
        if (err.name !== "AbortError") {
          result.innerHTML = '<h2 id="result-heading">Prediction</h2><div class="notice notice-error" role="alert" data-testid="notice"><p class="notice-title">Prediction service unavailable</p></div>';
        }
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(update, 120);
  }

  range.addEventListener("input", function () { number.value = range.value; schedule(); });
  number.addEventListener("input", function () {
    if (number.value !== "" && !isNaN(number.value)) range.value = number.value;
    schedule();
  });
  form.querySelectorAll("select").forEach(function (s) { s.addEventListener("change", schedule); });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); update(); });
  document.documentElement.classList.add("js");
})();
