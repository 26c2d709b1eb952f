/* Optional behaviour of the HTML report: sortable findings and suspects tables, a
   filter by series, and a filter of each series' all-signatures table. Everything is readable without it (the PDF runs no JS). */
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      if (!th.dataset.sort) { return; }
      th.tabIndex = 0;
      th.classList.add("sortable");
      var sort = function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var numeric = th.dataset.sort === "num";
        var key = function (row) {
          var cell = row.cells[col];
          var v = cell.getAttribute("data-value");
          if (v === null) { v = cell.textContent; }
          return numeric ? parseFloat(v.replace(/,/g, "")) || 0 : v;
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var c = numeric ? x - y : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
  });
  /* the all-signatures tables: rows whose text holds every word typed */
  Array.prototype.forEach.call(document.querySelectorAll(".sig-filter"), function (p) {
    p.hidden = false;
    var table = p.parentNode.querySelector("table.signatures");
    p.querySelector("input").addEventListener("input", function (e) {
      var want = e.target.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var text = row.textContent.toLowerCase();
        row.hidden = !want.every(function (w) { return text.indexOf(w) >= 0; });
      });
    });
  });
  var filter = document.getElementById("series-filter");
  if (filter) {
    filter.hidden = false;
    filter.querySelector("select").addEventListener("change", function (e) {
      var want = e.target.value;
      document.querySelectorAll("[data-series]").forEach(function (el) {
        el.hidden = want !== "" && el.getAttribute("data-series") !== want;
      });
      /* a finding is in several series: shown when the chosen one is among them */
      document.querySelectorAll("[data-series-any]").forEach(function (el) {
        el.hidden = want !== "" && el.getAttribute("data-series-any").split("\n").indexOf(want) < 0;
      });
    });
  }
}());
