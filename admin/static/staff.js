/*
 * staff.js — the manager page's staff section (beside admin.js, same login).
 *
 * GET /api/halls/{hall}/staff lists every staff member (never a PIN); the form adds one
 * (POST /staff {id, name, role, pin}); each row resets the PIN (POST /staff/{id}/pin) and
 * disables or enables the login (POST /staff/{id}/disable|enable). The server checks each
 * change as `hallq check-config` does, writes it to the hall's staff overlay (never the
 * hall file), reloads the hall live and audits it; a refusal shows the catalogue's words for
 * its code (err_…) and, for a broken rule, the problems. Words come from the catalogue (HQ.t).
 */
(function () {
  'use strict';

  var HALL = window.HALL;
  var HQ = window.HQ;
  var API = '/api/halls/' + encodeURIComponent(HALL.id) + '/staff';
  var TOKEN_KEY = 'hallq.admin.token.' + HALL.id;
  var last = null;

  function $(id) { return document.getElementById(id); }
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function loggedIn() { return !!token() && !$('app').hidden; }

  function say(text, problems) {
    $('staff-status').textContent = text;
    $('staff-problems').textContent = (problems || []).join('\n');
    $('staff-problems').hidden = !(problems && problems.length);
  }
  function refused(res) {
    var err = (res.data && res.data.error) || {};
    say(HQ.errorText(res), err.problems);
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

  function render(list) {
    last = list;
    var body = $('staff-table').tBodies[0];
    body.textContent = '';
    list.forEach(function (s) {
      var tr = document.createElement('tr');
      tr.dataset.staff = s.id;
      tr.dataset.disabled = String(s.disabled);
      tr.className = s.disabled ? 'muted' : '';
      [s.id, s.name, HQ.t('m_staff_role_' + s.role),
        HQ.t(s.disabled ? 'm_staff_disabled' : 'm_staff_active')].forEach(function (t) { tr.appendChild(cell(t)); });
      var actions = document.createElement('td');
      var pin = document.createElement('input');
      pin.type = 'password';
      pin.autocomplete = 'new-password';
      pin.inputMode = 'numeric';
      pin.className = 'staff-pin';
      pin.setAttribute('aria-label', HQ.t('m_staff_new_pin', {id: s.id}));
      pin.placeholder = HQ.t('m_staff_pin');
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

  function load() {
    if (!loggedIn()) return;
    HQ.api('GET', API, null, token()).then(function (res) {
      if (res.ok) render(res.data.staff);
    });
  }

  function change(path, body, id) {
    HQ.api('POST', API + '/' + encodeURIComponent(path).replace('%2F', '/'), body, token()).then(function (res) {
      if (!res.ok) return refused(res);
      say(HQ.t('m_staff_saved', {id: id}));
      load();
    });
  }

  $('staff-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var body = {id: $('staff-id').value.trim(), name: $('staff-name').value.trim(),
      role: $('staff-role').value, pin: $('staff-pin').value};
    HQ.api('POST', API, body, token()).then(function (res) {
      if (!res.ok) return refused(res);
      say(HQ.t('m_staff_added', {id: res.data.staff.id}));
      $('staff-form').reset();
      load();
    });
  });

  new MutationObserver(function () { if (loggedIn()) load(); })
    .observe($('app'), {attributes: true, attributeFilter: ['hidden']});
  HQ.onLang(function () { if (last) render(last); });
  load();
})();
