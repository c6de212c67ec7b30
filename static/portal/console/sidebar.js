/* Below 1440 px the console's app sidebar starts closed, leaving the changelists their room;
   Django's toggle (nav_sidebar.js, deferred, so it runs after this) opens it and remembers. */
"use strict";
if (localStorage.getItem("django.admin.navSidebarIsOpen") === null &&
    window.matchMedia("(max-width: 1439px)").matches) {
  localStorage.setItem("django.admin.navSidebarIsOpen", "false");
}
