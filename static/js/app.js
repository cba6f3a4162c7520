// Orgbase's own behaviour, loaded as a file so the CSP needs no inline script.
(function () {
  'use strict';

  // Send the CSRF token with every htmx request; the token is in a meta tag.
  document.addEventListener('htmx:configRequest', function (evt) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { evt.detail.headers['X-CSRF-Token'] = meta.content; }
  });

  // Validation failures come back as 422 with the re-rendered form: swap them.
  document.addEventListener('htmx:beforeSwap', function (evt) {
    var status = evt.detail.xhr.status;
    if (status === 422) { evt.detail.shouldSwap = true; evt.detail.isError = false; }
  });

  // Elements with data-confirm-name keep their submit button disabled until
  // the typed text matches the name (destructive confirmations).
  function bindConfirm(root) {
    root.querySelectorAll('[data-confirm-input]').forEach(function (input) {
      var form = input.form;
      if (!form || input.dataset.bound) { return; }
      input.dataset.bound = '1';
      var want = input.dataset.confirmInput;
      var btn = form.querySelector('[data-confirm-submit]');
      var sync = function () { if (btn) { btn.disabled = input.value.trim() !== want; } };
      input.addEventListener('input', sync);
      sync();
    });
  }

  // Menus are <details data-menu> (they work without JavaScript); here an
  // outside click or Escape closes them, and opening one closes the others.
  function closeMenus(except) {
    document.querySelectorAll('details[data-menu][open]').forEach(function (d) {
      if (d !== except) { d.removeAttribute('open'); }
    });
  }
  document.addEventListener('click', function (e) {
    closeMenus(e.target.closest('details[data-menu]'));
  });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') { closeMenus(null); } });

  // Slug field follows the name field until the user edits the slug.
  function bindSlug(root) {
    root.querySelectorAll('[data-slug-source]').forEach(function (slug) {
      if (slug.dataset.bound) { return; }
      slug.dataset.bound = '1';
      var src = document.getElementById(slug.dataset.slugSource);
      if (!src) { return; }
      var touched = slug.value !== '';
      slug.addEventListener('input', function () { touched = true; });
      src.addEventListener('input', function () {
        if (touched) { return; }
        slug.value = src.value.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '')
          .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '');
      });
    });
  }

  // Toasts dismiss themselves.
  function bindToasts(root) {
    root.querySelectorAll('[data-toast]').forEach(function (t) {
      if (t.dataset.bound) { return; }
      t.dataset.bound = '1';
      setTimeout(function () { t.remove(); }, 4000);
    });
  }

  // Tree rows: a toggle button shows or hides the row's children. Without
  // JavaScript every level stays open.
  document.addEventListener('click', function (e) {
    var btn = e.target.closest('[data-tree-toggle]');
    if (!btn) { return; }
    var list = document.getElementById(btn.getAttribute('aria-controls'));
    if (!list) { return; }
    var open = btn.getAttribute('aria-expanded') !== 'false';
    btn.setAttribute('aria-expanded', open ? 'false' : 'true');
    btn.querySelector('svg').classList.toggle('-rotate-90', open);
    var item = btn.closest('[role=treeitem]');
    if (item) { item.setAttribute('aria-expanded', open ? 'false' : 'true'); }
    list.hidden = open;
  });

  // The modal dialog opens when htmx puts a form into it, and closes on the
  // server's close-modal event, on Cancel, or on Escape (native).
  document.addEventListener('htmx:afterSwap', function (evt) {
    var modal = document.getElementById('modal');
    if (modal && evt.detail.target.id === 'modal-body' && !modal.open && evt.detail.target.innerHTML.trim() !== '') {
      modal.showModal();
      var first = modal.querySelector('[autofocus], input:not([type=hidden]), select, button');
      if (first) { first.focus(); }
    }
  });
  document.addEventListener('close-modal', closeModal);
  function closeModal() {
    var modal = document.getElementById('modal');
    if (modal && modal.open) { modal.close(); }
  }
  document.addEventListener('click', function (e) {
    if (e.target.closest('[data-close-modal]') && document.getElementById('modal').open) {
      e.preventDefault();
      closeModal();
    }
  });
  document.addEventListener('close', function (e) {
    if (e.target.id === 'modal') { document.getElementById('modal-body').innerHTML = ''; }
  }, true);

  // Buttons with data-copy="<input id>" copy that field's value (a new API
  // key); they stay hidden where the clipboard cannot be written.
  function bindCopy(root) {
    if (!navigator.clipboard) { return; }
    root.querySelectorAll('[data-copy]').forEach(function (btn) {
      if (btn.dataset.bound) { return; }
      btn.dataset.bound = '1';
      btn.hidden = false;
      btn.addEventListener('click', function () {
        var field = document.getElementById(btn.dataset.copy);
        if (!field) { return; }
        navigator.clipboard.writeText(field.value).then(function () {
          btn.textContent = 'Copied';
          setTimeout(function () { btn.textContent = 'Copy'; }, 2000);
        }, function () {
          field.select(); // the clipboard refused: leave it selected for Ctrl+C
        });
      });
    });
  }


  // ---------------------------------------------------------------------
  // Charts (the Overview's credit consumption). A <canvas data-chart="JSON">
  // is drawn from its attribute's JSON (not a <script type="application/json">
  // block: htmx removes script elements from swapped content):
  // {days, labels, series: [{label, color, darkColor, data}]}, stacked daily bars. The chart library is loaded only on pages that have charts;
  // the figures are also in a table beside each chart. A chart is destroyed
  // before htmx removes its canvas and drawn again for the swapped-in one.
  // ---------------------------------------------------------------------
  var darkScheme = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;

  function formatCredits(v) {
    return Number(v).toLocaleString(undefined, { maximumFractionDigits: 3 });
  }

  function drawChart(canvas, redraw) {
    if (typeof window.Chart === 'undefined') { return; }
    if (window.Chart.getChart(canvas) && !redraw) { return; } // already drawn (page load and htmx:load both call)
    var data;
    try { data = JSON.parse(canvas.dataset.chart); } catch (e) { return; }
    var old = window.Chart.getChart(canvas);
    if (old) { old.destroy(); }
    var dark = !!(darkScheme && darkScheme.matches);
    var ink = dark ? '#9ca3af' : '#6b7280';   // gray-400 / gray-500
    var grid = dark ? '#1f2937' : '#f3f4f6';  // gray-800 / gray-100
    var many = data.labels.length > 45;
    new window.Chart(canvas, {
      type: 'bar',
      data: {
        labels: data.labels,
        datasets: data.series.map(function (s) {
          var c = dark ? s.darkColor : s.color;
          return { label: s.label, data: s.data, backgroundColor: c, hoverBackgroundColor: c, borderRadius: 2, maxBarThickness: 28, categoryPercentage: many ? 0.9 : 0.75 };
        })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false, // figures, not motion: swaps and resizes redraw at once
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: { display: false }, // the page draws its own legend, with totals
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? data.days[items[0].dataIndex] : ''; },
              label: function (item) { return ' ' + item.dataset.label + ': ' + formatCredits(item.parsed.y); },
              footer: function (items) {
                var t = 0;
                items.forEach(function (i) { t += i.parsed.y; });
                return 'Total: ' + formatCredits(Math.round(t * 1000) / 1000);
              }
            }
          }
        },
        scales: {
          x: { stacked: true, grid: { display: false }, border: { display: false },
            ticks: { color: ink, maxRotation: 0, autoSkip: true, autoSkipPadding: 12, font: { size: 11 } } },
          y: { stacked: true, beginAtZero: true, border: { display: false }, grid: { color: grid },
            ticks: { color: ink, maxTicksLimit: 5, font: { size: 11 }, callback: function (v) { return formatCredits(v); } } }
        }
      }
    });
  }

  function bindCharts(root, redraw) {
    var scope = root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches('canvas[data-chart]')) { drawChart(scope, redraw); }
    scope.querySelectorAll('canvas[data-chart]').forEach(function (c) { drawChart(c, redraw); });
  }
  // Free a chart before htmx drops its canvas.
  document.addEventListener('htmx:beforeCleanupElement', function (evt) {
    var el = evt.detail.elt;
    if (typeof window.Chart === 'undefined' || !el || !el.querySelectorAll) { return; }
    var canvases = el.matches('canvas[data-chart]') ? [el] : el.querySelectorAll('canvas[data-chart]');
    Array.prototype.forEach.call(canvases, function (c) {
      var chart = window.Chart.getChart(c);
      if (chart) { chart.destroy(); }
    });
  });
  // Follow the system's switch between light and dark.
  if (darkScheme && darkScheme.addEventListener) {
    darkScheme.addEventListener('change', function () { bindCharts(document, true); });
  }

  function bindAll(root) { bindConfirm(root); bindSlug(root); bindToasts(root); bindCopy(root); bindCharts(root); }
  document.addEventListener('DOMContentLoaded', function () { bindAll(document); });
  document.addEventListener('htmx:load', function (evt) { bindAll(evt.detail.elt); });
})();
