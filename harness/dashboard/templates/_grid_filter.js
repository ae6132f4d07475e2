// Filtering without a round trip (the static site has no server); the form works without JS.
(function () {
  var form = document.querySelector("form.filter"), rows = document.querySelectorAll("#grid tbody tr");
  if (!form || document.body.dataset.served) return;
  function apply(ev) {
    if (ev) ev.preventDefault();
    var q = form.q.value.toLowerCase(), s = form.status.value;
    rows.forEach(function (tr) {
      var bad = +tr.dataset.bad, good = +tr.dataset.good, ok = tr.dataset.test.toLowerCase().indexOf(q) >= 0;
      if (s === "failing") ok = ok && bad > 0;
      if (s === "passing") ok = ok && bad === 0;
      if (s === "flaky") ok = ok && bad > 0 && good > 0;
      tr.hidden = !ok;
    });
  }
  form.addEventListener("submit", apply);
  form.q.addEventListener("input", apply);
  form.status.addEventListener("change", apply);
})();
