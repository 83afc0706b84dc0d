/* Runs first: counts script errors, console errors and blocked loads so a test (or a person)
 * can read them from <body data-errors data-blocked data-resources>. */
(function () {
  'use strict';
  var g = window.__dft = { errors: [], blocked: 0 };
  window.addEventListener('error', function (e) { g.errors.push(String(e.message || e)); });
  document.addEventListener('securitypolicyviolation', function () { g.blocked++; });
  var ce = console.error;
  console.error = function () { g.errors.push(Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); };
  g.publish = function () {
    var b = document.body;
    if (!b) return;
    b.dataset.errors = String(g.errors.length);
    b.dataset.blocked = String(g.blocked);
    b.dataset.resources = String(performance.getEntriesByType('resource').length);
    if (g.errors.length) b.dataset.errorText = g.errors.join(' | ').slice(0, 500);
  };
  window.addEventListener('load', function () { g.publish(); });
})();
