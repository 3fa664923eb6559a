/*
 * staff.js — the manager page's staff section (beside admin.js, same login).
 *
 * GET /api/halls/{hall}/staff lists every staff member (never a PIN); the form adds one
 * (POST /staff {id, name, role, pin}); each row resets the PIN (POST /staff/{id}/pin) and
 * disables or enables the login (POST /staff/{id}/disable|enable), and sets the only windows
 * they may serve (POST /staff/{id}/windows {windows: ["1", "2"]}; empty: any). The server checks each
 * change as `hallq check-config` does, writes it to the hall's staff overlay (never the
 * hall file), reloads the hall live and audits it; a refusal shows the catalogue's words for
 * its code (err_…) and, for a broken rule, the problems. Words come from the catalogue (HQ.t).
 *
 * The windows table works the same way: add a window serving the ticked services
 * (POST /windows {id, services}), take one out of service (…/retire) or put it back (…/restore).
 */
(function () {
  'use strict';

  var HALL = window.HALL;
  var HQ = window.HQ;
  var API = '/api/halls/' + encodeURIComponent(HALL.id) + '/staff';
  var TOKEN_KEY = 'hallq.admin.token.' + HALL.id;
  var WINDOWS = '/api/halls/' + encodeURIComponent(HALL.id) + '/windows';
  var last = null;
  var lastWindows = null;
  var shown = '';

  function $(id) { return document.getElementById(id); }
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function loggedIn() { return !!token() && !$('app').hidden; }

  function say(text, problems, where) {
    where = where || 'staff';
    $(where + '-status').textContent = text;
    $(where + '-problems').textContent = (problems || []).join('\n');
    $(where + '-problems').hidden = !(problems && problems.length);
  }
  function refused(res, where) {
    var err = (res.data && res.data.error) || {};
    say(HQ.errorText(res), err.problems, where);
  }

  function cell(text) {
    var td = document.createElement('td');
    td.textContent = text;
    return td;
  }
  function button(key, onClick) {
    var b = document.createElement('button');
    b.type = 'button';
    b.textContent = HQ.t(key);
    b.dataset.action = key;
    b.addEventListener('click', onClick);
    return b;
  }

  /** Draw the staff table; what the manager typed in a row and has not saved stays typed
   * (HQ.keepTyped), except in row ``saved``. */
  function render(list, saved) {
    last = list;
    var body = $('staff-table').tBodies[0];
    HQ.keepTyped(body, 'staff', function () { drawStaff(body, list); }, saved);
  }

  function drawStaff(body, list) {
    body.textContent = '';
    list.forEach(function (s) {
      var tr = document.createElement('tr');
      tr.dataset.staff = s.id;
      tr.dataset.disabled = String(s.disabled);
      tr.className = s.disabled ? 'muted' : '';
      [s.id, s.name, HQ.t('m_staff_role_' + s.role),
        HQ.t(s.disabled ? 'm_staff_disabled' : 'm_staff_active')].forEach(function (t) { tr.appendChild(cell(t)); });
      tr.appendChild(windowsCell(s));
      var actions = document.createElement('td');
      var pin = document.createElement('input');
      pin.type = 'password';
      pin.autocomplete = 'new-password';
      pin.inputMode = 'numeric';
      pin.className = 'staff-pin';
      pin.setAttribute('aria-label', HQ.t('m_staff_new_pin', {id: s.id}));
      pin.placeholder = HQ.t('m_staff_pin');
      pin.dataset.shown = '';
      actions.appendChild(pin);
      actions.appendChild(button('m_staff_reset_pin', function () {
        change(s.id + '/pin', {pin: pin.value}, s.id);
      }));
      actions.appendChild(button(s.disabled ? 'm_staff_enable' : 'm_staff_disable', function () {
        change(s.id + (s.disabled ? '/enable' : '/disable'), null, s.id);
      }));
      tr.appendChild(actions);
      body.appendChild(tr);
    });
  }

  /** The windows a staff member may serve: typed as "1, 2" (empty: any window), saved by its button. */
  function windowsCell(s) {
    var td = document.createElement('td');
    var input = document.createElement('input');
    input.className = 'staff-windows';
    input.size = 8;
    input.autocapitalize = 'off';
    input.value = (s.windows || []).join(', ');
    input.dataset.shown = input.value;
    input.placeholder = HQ.t('m_staff_windows_any');
    input.setAttribute('aria-label', HQ.t('m_staff_windows_of', {id: s.id}));
    td.appendChild(input);
    td.appendChild(button('m_staff_windows_save', function () {
      var windows = input.value.split(/[\s,，、]+/).filter(function (w) { return w !== ''; });
      change(s.id + '/windows', {windows: windows}, s.id);
    }));
    return td;
  }

  function renderWindows(list) {
    lastWindows = list;
    var body = $('manage-windows-table').tBodies[0];
    body.textContent = '';
    list.forEach(function (w) {
      var tr = document.createElement('tr');
      tr.dataset.window = w.id;
      tr.dataset.retired = String(w.retired);
      tr.className = w.retired ? 'muted' : '';
      [w.id, w.services.map(function (s) { return HQ.serviceName(s); }).join(HQ.lang === 'zh' ? '、' : ', '),
        HQ.t(w.retired ? 'm_win_retired' : 'm_win_in_service')].forEach(function (t) { tr.appendChild(cell(t)); });
      var actions = document.createElement('td');
      actions.appendChild(button(w.retired ? 'm_win_restore' : 'm_win_retire', function () {
        HQ.api('POST', WINDOWS + '/' + encodeURIComponent(w.id) + (w.retired ? '/restore' : '/retire'), null,
          token()).then(function (res) {
          if (!res.ok) return refused(res, 'windows');
          load().then(function () { say(HQ.t('m_win_saved', {id: w.id}), null, 'windows'); });
        });
      }));
      tr.appendChild(actions);
      body.appendChild(tr);
    });
  }

  function serviceBoxes() {
    var box = $('window-services');
    box.querySelectorAll('label').forEach(function (l) { l.remove(); });
    (HALL.services || []).forEach(function (s) {
      var label = document.createElement('label');
      var input = document.createElement('input');
      input.type = 'checkbox';
      input.value = s.id;
      label.appendChild(input);
      label.appendChild(document.createTextNode(' ' + HQ.serviceName(s.id)));
      box.appendChild(label);
    });
  }

  /** Read the staff and windows again and draw them if they changed (``saved``: the row just
   * saved); resolves once drawn. */
  function load(saved) {
    if (!loggedIn()) return Promise.resolve();
    return HQ.api('GET', API, null, token()).then(function (res) {
      if (!res.ok) return;
      var seen = JSON.stringify(res.data);
      if (seen === shown) return;
      shown = seen;
      render(res.data.staff, saved);
      renderWindows(res.data.windows);
    });
  }

  function change(path, body, id) {
    HQ.api('POST', API + '/' + encodeURIComponent(path).replace('%2F', '/'), body, token()).then(function (res) {
      if (!res.ok) return refused(res);
      load(id).then(function () { say(HQ.t('m_staff_saved', {id: id})); });
    });
  }

  $('staff-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var body = {id: $('staff-id').value.trim(), name: $('staff-name').value.trim(),
      role: $('staff-role').value, pin: $('staff-pin').value};
    HQ.api('POST', API, body, token()).then(function (res) {
      if (!res.ok) return refused(res);
      $('staff-form').reset();
      load().then(function () { say(HQ.t('m_staff_added', {id: res.data.staff.id})); });
    });
  });

  $('window-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var services = [];
    $('window-services').querySelectorAll('input:checked').forEach(function (i) { services.push(i.value); });
    var id = $('window-id').value.trim();
    HQ.api('POST', WINDOWS, {id: id, services: services}, token()).then(function (res) {
      if (!res.ok) return refused(res, 'windows');
      $('window-form').reset();
      load().then(function () { say(HQ.t('m_win_saved', {id: id}), null, 'windows'); });
    });
  });

  new MutationObserver(function () { if (loggedIn()) load(); })
    .observe($('app'), {attributes: true, attributeFilter: ['hidden']});
  HQ.onLang(function () {
    serviceBoxes();
    if (last) render(last);  // typed fields stay
    if (lastWindows) renderWindows(lastWindows);
  });
  serviceBoxes();
  load();
})();
