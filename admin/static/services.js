/*
 * services.js — the manager page's services and opening-hours sections (beside staff.js,
 * same login and the same way of saying a refusal).
 *
 * Services: the table lists each service of the hall (GET /api/halls/{hall}, the public
 * config) with its names in every hall language, editable in place (POST
 * /services/{id}/name {name}), and its letter, kind, minutes per visit and daily quota (POST
 * /services/{id}/settings; an empty quota: no limit); a service can be taken away (POST
 * /services/{id}/remove: refused while anyone waits, is served or is booked for it, and a
 * letter changes only once no ticket of the old letter is open today). The form adds one
 * (POST /services {id, prefix, name, kind, windows}: it joins the last tier of each ticked
 * window). Opening hours: one field per
 * weekday ("08:30-12:00, 13:30-17:30"; empty: closed that day) and the ticket cutoff
 * (GET/POST /hours). The server checks each change as `hallq check-config` does, refuses one
 * that would strand a waiting visitor (strands_visitors), writes the staff overlay, reloads
 * live and audits; a refusal shows the catalogue's words for its code and the problems.
 */
(function () {
  'use strict';

  var HALL = window.HALL;
  var HQ = window.HQ;
  var BASE = '/api/halls/' + encodeURIComponent(HALL.id);
  var TOKEN_KEY = 'hallq.admin.token.' + HALL.id;
  var DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  var languages = (HQ.hall && HQ.hall.languages) || HALL.languages || ['zh', 'en'];
  var config = null;   // the public config last read: services and windows
  var shown = '';
  var hoursShown = '';

  function $(id) { return document.getElementById(id); }
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function loggedIn() { return !!token() && !$('app').hidden; }

  function say(where, text, problems) {
    $(where + '-status').textContent = text;
    $(where + '-problems').textContent = (problems || []).join('\n');
    $(where + '-problems').hidden = !(problems && problems.length);
  }
  function refused(where, res) {
    var err = (res.data && res.data.error) || {};
    var problems = err.problems || (err.tickets || []).map(function (t) {
      return t.number + ' (' + (t.services || []).join('+') + '): ' + t.reason;
    }).concat((err.appointments || []).map(function (a) {
      return HQ.t('m_svc_booked', {date: a.date, start: a.start}) + ' (' + a.services.join('+') + '): ' + a.reason;
    }));
    say(where, HQ.errorText(res), problems);
  }
  function el(tag, props) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) { node[k] = props[k]; });
    return node;
  }

  // ---- services ----
  /** A language by its own name ("中文", "English"), as the language switch says it. */
  function languageName(lang) { return HQ.has('lang_name', lang) ? HQ.t('lang_name', null, lang) : lang; }
  function nameInputs(box, names) {
    languages.forEach(function (lang) {
      var input = el('input', {maxLength: 40, size: 12, value: (names && names[lang]) || ''});
      input.dataset.lang = lang;
      input.dataset.shown = input.value;
      input.placeholder = HQ.t('m_svc_name_in', {lang: languageName(lang)});
      input.setAttribute('aria-label', input.placeholder);
      box.appendChild(input);
    });
  }
  function namesFrom(box) {
    var names = {};
    box.querySelectorAll('input[data-lang]').forEach(function (i) {
      if (i.value.trim()) names[i.dataset.lang] = i.value.trim();
    });
    return names;
  }

  /** A button of a service's row that POSTs ``body`` to /services/{id}/{what}. */
  function rowButton(s, word, what, body, done) {
    var button = el('button', {type: 'button', textContent: HQ.t(word)});
    button.dataset.action = word;
    button.addEventListener('click', function () {
      HQ.api('POST', BASE + '/services/' + encodeURIComponent(s.id) + '/' + what, body(), token())
        .then(function (res) {
          if (!res.ok) return refused('services', res);
          load(true, s.id).then(function () { say('services', HQ.t(done, {id: s.id})); });
        });
    });
    return button;
  }

  /** The letter, kind, minutes and quota cells of a service's row, and its buttons. */
  function settingsCells(tr, s) {
    var prefix = el('input', {maxLength: 1, size: 2, value: s.prefix, name: 'prefix'});
    var kind = el('select', {name: 'kind'});
    ['instant', 'promised'].forEach(function (k) {
      kind.appendChild(el('option', {value: k, textContent: HQ.t('m_svc_kind_' + k), selected: s.kind === k}));
    });
    var minutes = el('input', {type: 'number', min: 1, max: 480, size: 4, value: s.expected_minutes, name: 'minutes'});
    var quota = el('input', {type: 'number', min: 1, max: 999, size: 4, value: s.daily_quota || '', name: 'quota'});
    quota.placeholder = HQ.t('m_svc_quota_none');
    [[prefix, 'm_svc_prefix'], [kind, 'm_svc_kind'], [minutes, 'm_svc_minutes'], [quota, 'm_svc_quota']]
      .forEach(function (pair) {
        pair[0].setAttribute('aria-label', HQ.t(pair[1]));
        pair[0].dataset.shown = pair[0].value;
        var td = el('td');
        td.appendChild(pair[0]);
        tr.appendChild(td);
      });
    return function settings() {
      return {prefix: prefix.value.trim().toUpperCase(), kind: kind.value,
        expected_minutes: Number(minutes.value), daily_quota: quota.value.trim() ? Number(quota.value) : 0};
    };
  }

  function drawServices(body) {
    body.textContent = '';
    config.services.forEach(function (s) {
      var tr = el('tr');
      tr.dataset.service = s.id;
      var id = el('td', {textContent: s.id});
      id.dataset.raw = '';  // the hall file's id, in no language
      tr.appendChild(id);
      var names = el('td');
      nameInputs(names, s.name);
      var save = el('button', {type: 'button', textContent: HQ.t('m_svc_save_names')});
      save.dataset.action = 'm_svc_save_names';
      save.addEventListener('click', function () {
        HQ.api('POST', BASE + '/services/' + encodeURIComponent(s.id) + '/name', {name: namesFrom(names)}, token())
          .then(function (res) {
            if (!res.ok) return refused('services', res);
            load(true, s.id).then(function () { say('services', HQ.t('m_svc_saved', {id: s.id})); });
          });
      });
      names.appendChild(save);
      tr.appendChild(names);
      var settings = settingsCells(tr, s);
      var windows = config.windows.filter(function (w) { return w.services.indexOf(s.id) >= 0; });
      tr.appendChild(el('td', {textContent: windows.map(function (w) { return w.id; }).join(', ')}));
      var actions = el('td');
      actions.appendChild(rowButton(s, 'm_svc_save', 'settings', settings, 'm_svc_saved'));
      actions.appendChild(rowButton(s, 'm_svc_remove', 'remove', function () { return null; }, 'm_svc_removed'));
      tr.appendChild(actions);
      body.appendChild(tr);
    });
  }

  /** Draw the services table. What the manager typed in a row and has not saved stays typed
   * (HQ.keepTyped), except in row ``saved``, which now shows what the server kept. */
  function render(saved) {
    var body = $('services-table').tBodies[0];
    HQ.keepTyped(body, 'service', function () { drawServices(body); }, saved);
    var box = $('service-windows');
    box.querySelectorAll('label').forEach(function (l) { l.remove(); });
    config.windows.forEach(function (w) {
      var label = el('label');
      var input = el('input', {type: 'checkbox', value: String(w.id)});
      label.appendChild(input);
      label.appendChild(document.createTextNode(' ' + w.id));
      box.appendChild(label);
    });
  }

  // ---- opening hours ----
  function renderHours(hours) {
    var body = $('hours-table').tBodies[0];
    body.textContent = '';
    DAYS.forEach(function (day) {
      var tr = el('tr');
      tr.dataset.day = day;
      tr.appendChild(el('th', {textContent: HQ.t('m_hours_' + day)}));
      var td = el('td');
      var input = el('input', {size: 28, maxLength: 100, value: (hours.hours[day] || []).join(', ')});
      input.dataset.day = day;
      input.placeholder = HQ.t('m_hours_closed');
      input.setAttribute('aria-label', HQ.t('m_hours_' + day));
      td.appendChild(input);
      tr.appendChild(td);
      body.appendChild(tr);
    });
    $('hours-cutoff').value = hours.ticket_cutoff;
  }

  /** Read the hall and its hours again and draw what changed; resolves once both are drawn.
   * ``force`` draws the services even when unchanged; ``saved`` is the row just saved. */
  function load(force, saved) {
    if (!loggedIn()) return Promise.resolve();
    var services = HQ.api('GET', BASE, null).then(function (res) {
      if (!res.ok) return;
      var seen = JSON.stringify([res.data.services, res.data.windows]);
      if (seen === shown && !force) return;
      shown = seen;
      config = res.data;
      render(saved);
    });
    var hours = HQ.api('GET', BASE + '/hours', null, token()).then(function (res) {
      if (res.ok) showHours(res.data, false);
    });
    return Promise.all([services, hours]);
  }

  // Hours typed but not saved stay in place when the page reloads the hall (a service saved,
  // another manager's change): the table is drawn again only when the hours themselves changed.
  function showHours(hours, force) {
    var seen = JSON.stringify(hours);
    if (seen === hoursShown && !force) return;
    hoursShown = seen;
    renderHours(hours);
  }

  $('service-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var windows = [];
    $('service-windows').querySelectorAll('input:checked').forEach(function (i) { windows.push(i.value); });
    var body = {id: $('service-id').value.trim(), prefix: $('service-prefix').value.trim().toUpperCase(),
      name: namesFrom($('service-names')), kind: $('service-kind').value, windows: windows};
    HQ.api('POST', BASE + '/services', body, token()).then(function (res) {
      if (!res.ok) return refused('services', res);
      $('service-form').reset();
      load(true).then(function () { say('services', HQ.t('m_svc_added', {id: res.data.service.id})); });
    });
  });

  $('hours-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var hours = {};
    $('hours-table').querySelectorAll('input[data-day]').forEach(function (i) {
      hours[i.dataset.day] = i.value.split(/[\s,，、]+/).filter(function (x) { return x !== ''; });
    });
    HQ.api('POST', BASE + '/hours', {hours: hours, ticket_cutoff: $('hours-cutoff').value.trim()}, token())
      .then(function (res) {
        if (!res.ok) return refused('hours', res);
        say('hours', HQ.t('m_hours_saved'));
        showHours(res.data, true);
      });
  });

  new MutationObserver(function () { if (loggedIn()) load(); })
    .observe($('app'), {attributes: true, attributeFilter: ['hidden']});
  HQ.onLang(function () {
    $('service-names').textContent = '';
    nameInputs($('service-names'));
    if (config) render();
    if (loggedIn()) HQ.api('GET', BASE + '/hours', null, token()).then(function (res) {
      if (res.ok) showHours(res.data, true);  // the day names change with the language
    });
  });
  nameInputs($('service-names'));
  load();
})();
