/* Page data without inline script (the Content-Security-Policy forbids inline script):
 * each <script type="application/json" data-global="NAME"> block, rendered by the server,
 * becomes window.NAME before the page's own scripts run. */
(function () {
  'use strict';
  var blocks = document.querySelectorAll('script[type="application/json"][data-global]');
  for (var i = 0; i < blocks.length; i++) {
    window[blocks[i].getAttribute('data-global')] = JSON.parse(blocks[i].textContent);
  }
})();
