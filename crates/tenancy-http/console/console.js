// The tenancy console: a small single-page application over the public JSON
// API (/v1). No framework and no build step: the server embeds this file.
//
// Rules it keeps:
// - The session token lives in sessionStorage and travels only in the
//   Authorization header, never in a URL.
// - What a person may do comes from the organization's `capabilities`, never
//   from the role's name. Each control names the operation it asks for, and
//   the table of operations from `GET /v1/roles` says which capability that
//   needs: the console names no capability itself. A control they may not
//   use stays visible, marked aria-disabled, with the tooltip "View-only
//   access"; without the table every control is disabled so, and says why.
// - Every page load asks the server which organization is active, so a
//   removed member lands in their own organization on their next load.
// - Text from the server is put in the page as text (textContent), never as
//   HTML.
'use strict';

const SESSION_KEY = 'tenancy.session';
const SHOWN_ORG_KEY = 'tenancy.shown-organization';
const VIEW_ONLY = 'View-only access';
const NO_PERMISSIONS = 'Permissions could not be loaded: reload the page to try again';
// A message for the next page drawn: a warning, or a success.
const NOTICE_KEY = 'tenancy.notice';
const SUCCESS_KEY = 'tenancy.success';
// The pages that work without a session: those an emailed link opens, and
// the form that asks for a password reset. An ended session does not send
// them to the sign-in page.
const OPEN_PAGE = /^\/(invitations|verify-email|reset-password)\/[^/]+$|^\/forgot-password$/;

// ---- the API ---------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `request failed (${status})`);
    this.status = status;
    this.code = problem ? problem.code : undefined;
    this.problem = problem;
  }
}

function sessionToken() {
  return window.sessionStorage.getItem(SESSION_KEY);
}

function setSessionToken(token) {
  if (token) {
    window.sessionStorage.setItem(SESSION_KEY, token);
  } else {
    window.sessionStorage.removeItem(SESSION_KEY);
    window.sessionStorage.removeItem(SHOWN_ORG_KEY);
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = sessionToken();
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) {
    return null;
  }
  let data = null;
  const type = response.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    data = await response.json();
  }
  if (!response.ok) {
    if (response.status === 401 && token && path !== '/v1/auth/signin') {
      // The session ended (signed out elsewhere, or expired): sign in again,
      // whatever was under way. The open pages work without one.
      setSessionToken(null);
      if (!OPEN_PAGE.test(window.location.pathname)) {
        window.queueMicrotask(() => signInFirst(window.location.pathname));
      }
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

// Every item of a list, following the cursor to the end.
async function listAll(path) {
  const items = [];
  const seen = new Set();
  let cursor = null;
  for (;;) {
    const separator = path.includes('?') ? '&' : '?';
    const url = `${path}${separator}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const data = await api('GET', url);
    items.push(...data.items);
    if (!data.next_cursor || seen.has(data.next_cursor)) {
      return items;
    }
    seen.add(data.next_cursor);
    cursor = data.next_cursor;
  }
}

// ---- the DOM -----------------------------------------------------------------

function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (name.startsWith('on')) {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      element.className = value;
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) {
      continue;
    }
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const ICONS = {
  crown: 'M3 18h18v2H3zM3 7l4.5 4L12 4l4.5 7L21 7l-2 9H5z',
  check: 'M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z',
  chevron: 'M7 10l5 5 5-5z',
  plus: 'M19 13h-6v6h-2v-6H5v-2h6V5h2v6h6z',
};

function icon(name, label) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', `icon ${name}`);
  svg.setAttribute('fill', 'currentColor');
  svg.dataset.icon = name;
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
    const title = document.createElementNS(ns, 'title');
    title.textContent = label;
    svg.append(title);
  } else {
    svg.setAttribute('aria-hidden', 'true');
  }
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

let tooltipCount = 0;

// A control that the organization's capabilities decide (see `allowed`).
// Without the capability it stays in place, focusable, marked disabled, and
// explains why.
function gate(control, permitted) {
  if (permitted) {
    return control;
  }
  const reason = operationTable ? VIEW_ONLY : NO_PERMISSIONS;
  tooltipCount += 1;
  const id = `view-only-${tooltipCount}`;
  control.setAttribute('aria-disabled', 'true');
  control.setAttribute('aria-describedby', id);
  control.dataset.gated = 'true';
  if (control.tagName === 'A') {
    control.removeAttribute('href');
    control.setAttribute('role', 'link');
    control.setAttribute('tabindex', '0');
  }
  const stop = (event) => {
    if (event.type === 'keydown' && event.key !== 'Enter' && event.key !== ' ') {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  };
  control.addEventListener('click', stop, true);
  control.addEventListener('keydown', stop, true);
  return h('span', { class: 'gate' }, control, h('span', { class: 'tooltip', role: 'tooltip', id }, reason));
}

function formatDate(value) {
  return new Date(value).toLocaleDateString('en', { year: 'numeric', month: 'short', day: 'numeric' });
}

function formatDateTime(value) {
  return new Date(value).toLocaleString('en', {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

// The API's messages are lower-case phrases without a final period; the
// page shows them as sentences.
function sentence(text) {
  const trimmed = String(text).trim();
  if (!trimmed) {
    return trimmed;
  }
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function errorText(error) {
  if (error instanceof ApiError) {
    if (error.problem && Array.isArray(error.problem.errors) && error.problem.errors.length > 0) {
      return error.problem.errors.map((e) => sentence(`${e.field.replace(/_/g, ' ')}: ${e.message}`)).join(' ');
    }
    return sentence(error.message);
  }
  if (error instanceof TypeError) {
    // What fetch throws when the network or the server is down.
    return 'The server could not be reached. Try again.';
  }
  return error.message;
}

// A form whose submit runs `action`; errors show in its alert line and the
// submit button is busy meanwhile.
function form(attributes, fields, action) {
  const alert = h('p', { class: 'error', role: 'alert' });
  const element = h('form', attributes, fields, alert);
  element.addEventListener('submit', async (event) => {
    event.preventDefault();
    const submit = element.querySelector('button[type="submit"]');
    if (submit && submit.getAttribute('aria-disabled') === 'true') {
      return;
    }
    alert.textContent = '';
    if (submit) {
      submit.disabled = true;
    }
    try {
      await action(new FormData(element), element);
    } catch (error) {
      alert.textContent = errorText(error);
    } finally {
      if (submit) {
        submit.disabled = false;
      }
    }
  });
  return element;
}

function field(label, attributes) {
  const id = attributes.id || `field-${attributes.name}`;
  const control = attributes.tag === 'textarea'
    ? h('textarea', { ...attributes, tag: undefined, id })
    : attributes.tag === 'select'
      ? h('select', { ...attributes, tag: undefined, options: undefined, id },
        attributes.options.map(([value, text]) => h('option', { value }, text)))
      : h('input', { type: 'text', ...attributes, id });
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}

function render(...children) {
  const root = document.getElementById('app');
  root.replaceChildren(...children.flat(Infinity));
}

// ---- navigation ----------------------------------------------------------------

function navigate(path, { replace = false } = {}) {
  if (replace) {
    window.history.replaceState(null, '', path);
  } else {
    window.history.pushState(null, '', path);
  }
  route();
}

document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-link]');
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
    return;
  }
  event.preventDefault();
  navigate(link.getAttribute('href'));
});

window.addEventListener('popstate', () => route());

// A click outside the open switcher closes it.
document.addEventListener('click', (event) => {
  const menu = document.getElementById('switcher-menu');
  if (menu && !menu.hidden && !event.target.closest('.switcher')) {
    menu.hidden = true;
    document.getElementById('switcher').setAttribute('aria-expanded', 'false');
  }
});

// Each kind's page, with whether the organization allows creating and
// deleting one (by operation: see `allowed`).
const KINDS = {
  agents: {
    title: 'Agents',
    singular: 'agent',
    mayCreate: (context) => allowed(context, 'create_agent'),
    mayDelete: (context) => allowed(context, 'delete_agent'),
  },
  connections: {
    title: 'Connections',
    singular: 'connection',
    mayCreate: (context) => allowed(context, 'create_connection'),
    mayDelete: (context) => allowed(context, 'delete_connection'),
  },
  reports: {
    title: 'Reports',
    singular: 'report',
    mayCreate: (context) => allowed(context, 'create_report'),
    mayDelete: (context) => allowed(context, 'delete_report'),
  },
  'knowledge-files': {
    title: 'Knowledge files',
    singular: 'knowledge file',
    mayCreate: (context) => allowed(context, 'create_knowledge_file'),
    mayDelete: (context) => allowed(context, 'delete_knowledge_file'),
  },
};

// The settings open to those who may do something there: rename the
// organization, see and invite its members, or see its billing.
function maySeeSettings(context) {
  return allowed(context, 'rename_organization')
    || allowed(context, 'list_members')
    || allowed(context, 'invite_member')
    || allowed(context, 'view_billing');
}

// What may be pinned to the sidebar: the pin's item type and the list it is in.
const PIN_KINDS = { agent: 'agents', connection: 'connections', report: 'reports' };
const PIN_TYPES = { agents: 'agent', connections: 'connection', reports: 'report' };

// Loads and draws the page of the current address. `#app` is aria-busy
// meanwhile, which tells assistive technology (and the tests) to wait. Only
// the newest navigation draws: one that a later click overtook while it
// waited for the server stops, so the page always matches the address.
let routing = 0;
let latest = 0;

async function route() {
  const root = document.getElementById('app');
  latest += 1;
  const id = latest;
  const first = id === 1;
  const stale = () => id !== latest;
  routing += 1;
  root.setAttribute('aria-busy', 'true');
  try {
    await draw(stale);
  } finally {
    routing -= 1;
    if (routing === 0) {
      root.removeAttribute('aria-busy');
    }
  }
  // After a navigation inside the console, the keyboard focus goes to the
  // new content instead of falling back to the top of the document.
  const content = document.getElementById('content');
  if (!first && !stale() && content && (!document.activeElement || document.activeElement === document.body)) {
    content.focus();
  }
}

async function draw(stale) {
  const path = window.location.pathname;
  const [, link, token] = path.match(/^\/(invitations|verify-email|reset-password)\/([^/]+)$/) || [];
  try {
    if (link === 'invitations') {
      document.title = 'Invitation \u00b7 tenancy';
      await invitationPage(token, stale);
    } else if (link === 'verify-email') {
      document.title = 'Verify your email address \u00b7 tenancy';
      await verifyEmailPage(token, stale);
    } else if (link === 'reset-password') {
      document.title = 'Choose a new password \u00b7 tenancy';
      resetPasswordPage(token);
    } else if (path === '/forgot-password') {
      document.title = 'Forgot your password? \u00b7 tenancy';
      forgotPasswordPage();
    } else if ((path === '/signin' || path === '/signup') && sessionToken()) {
      navigate(afterSignIn(), { replace: true });
    } else if (path === '/signin') {
      document.title = 'Sign in \u00b7 tenancy';
      signInPage();
    } else if (path === '/signup') {
      document.title = 'Create your account \u00b7 tenancy';
      signUpPage();
    } else if (!sessionToken()) {
      signInFirst(path);
    } else {
      await appPage(path, stale);
    }
  } catch (error) {
    if (stale()) {
      return;
    }
    if (error instanceof ApiError && error.status === 401) {
      signInFirst(path);
      return;
    }
    render(h('div', { class: 'card-page' }, h('div', { class: 'card' },
      h('h1', {}, 'Something went wrong'),
      h('p', { role: 'alert' }, errorText(error)),
      h('button', { type: 'button', onclick: () => route() }, 'Try again'))));
  }
}

// ---- sign in and sign up ---------------------------------------------------------

// A page of the app asked for without a session: sign in, then go there.
const NEXT_KEY = 'tenancy.next';

function signInFirst(path) {
  if (path !== '/' && !OPEN_PAGE.test(path)) {
    window.sessionStorage.setItem(NEXT_KEY, path);
  }
  navigate('/signin', { replace: true });
}

function afterSignIn() {
  const next = window.sessionStorage.getItem(NEXT_KEY);
  window.sessionStorage.removeItem(NEXT_KEY);
  // Only a path of this console: never somewhere else.
  return next && /^\/[a-z/-]*$/.test(next) ? next : '/';
}

function brand() {
  return h('div', { class: 'brand' }, h('img', { src: '/console/icon.svg', alt: '' }), 'tenancy');
}

function cardPage(...children) {
  render(h('main', { class: 'card-page' }, h('div', { class: 'card' }, brand(), children)));
  const first = document.querySelector('#app input:not([readonly]), #app button');
  if (first) {
    first.focus();
  }
}

function signInFields(email) {
  return [
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true, value: email || undefined, id: 'signin-email' }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, id: 'signin-password' }),
  ];
}

function signUpFields(email) {
  return [
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true, value: email || undefined, id: 'signup-email' }),
    field('Your name (optional)', { name: 'display_name', autocomplete: 'name', id: 'signup-name' }),
    newPasswordField('Password', 'password', 'signup-password'),
  ];
}

// A password to choose, with the sign-up rules that the browser can check;
// the server also refuses the most common passwords.
function newPasswordField(label, name, id) {
  return field(`${label} (at least 8 characters)`, {
    name, type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 256, id,
  });
}

async function signIn(data) {
  const session = await api('POST', '/v1/auth/signin', {
    email: data.get('email'),
    password: data.get('password'),
  });
  setSessionToken(session.token);
}

async function signUp(data, invitationToken) {
  const body = { email: data.get('email'), password: data.get('password') };
  const name = (data.get('display_name') || '').trim();
  if (name) {
    body.display_name = name;
  }
  if (invitationToken) {
    body.invitation_token = invitationToken;
  }
  const account = await api('POST', '/v1/auth/signup', body);
  setSessionToken(account.token);
  return account;
}

function signInPage() {
  cardPage(
    h('h1', {}, 'Sign in'),
    form({ id: 'signin-form', 'aria-label': 'Sign in' }, [
      signInFields(),
      h('button', { type: 'submit' }, 'Sign in'),
    ], async (data) => {
      await signIn(data);
      navigate(afterSignIn(), { replace: true });
    }),
    h('p', { class: 'switch' }, h('a', { href: '/forgot-password', 'data-link': true, id: 'forgot-password' }, 'Forgot password?')),
    h('p', { class: 'switch' }, 'New here? ', h('a', { href: '/signup', 'data-link': true }, 'Create an account')),
  );
}

function signUpPage() {
  cardPage(
    h('h1', {}, 'Create your account'),
    h('p', { class: 'muted' }, 'You get an organization of your own to start with.'),
    form({ id: 'signup-form', 'aria-label': 'Create your account' }, [
      signUpFields(),
      h('button', { type: 'submit' }, 'Create account'),
    ], async (data) => {
      await signUp(data);
      navigate('/', { replace: true });
    }),
    h('p', { class: 'switch' }, 'Already have an account? ', h('a', { href: '/signin', 'data-link': true }, 'Sign in')),
  );
}

// ---- the invitation landing page ---------------------------------------------------

// Leaves the page of an emailed link without keeping it in the history: its
// address holds the token.
function leaveLink(text = 'Go to the console', path = '/', id = undefined) {
  return h('a', {
    href: path,
    id,
    onclick: (event) => {
      event.preventDefault();
      navigate(path, { replace: true });
    },
  }, text);
}

const DEAD_INVITATION_TITLE = {
  accepted: 'Invitation already accepted',
  revoked: 'Invitation revoked',
  expired: 'Invitation expired',
};

const DEAD_INVITATION = {
  accepted: 'This invitation has already been accepted.',
  revoked: 'This invitation was revoked by the organization.',
  expired: 'This invitation has expired. Ask the organization\u2019s owner for a new one.',
};

// The token of an emailed link: 43 base64url characters.
const LINK_TOKEN = /^[A-Za-z0-9_-]{43}$/;

async function invitationPage(token, stale) {
  let preview;
  try {
    if (!LINK_TOKEN.test(token)) {
      throw new ApiError(404, null);
    }
    preview = await api('GET', `/v1/invitations/${token}`);
  } catch (error) {
    if (stale()) {
      return;
    }
    if (error instanceof ApiError && error.status === 404) {
      cardPage(h('h1', {}, 'Invitation not found'),
        h('p', {}, 'This invitation link is not valid. Check that you copied the whole link.'),
        h('p', { class: 'switch' }, leaveLink()));
      return;
    }
    throw error;
  }
  if (stale()) {
    return;
  }
  // A dead link tells its status only: the API no longer says who invited whom to what.
  if (preview.status !== 'pending') {
    cardPage(h('h1', {}, DEAD_INVITATION_TITLE[preview.status] || 'Invitation unavailable'),
      h('p', { role: 'alert', id: 'invitation-status' }, DEAD_INVITATION[preview.status] || preview.status),
      h('p', { class: 'switch' }, leaveLink()));
    return;
  }
  const facts = h('ul', { class: 'facts', 'aria-label': 'Invitation' },
    h('li', {}, h('span', {}, 'Organization'), h('strong', { id: 'invitation-organization' }, preview.organization_name)),
    h('li', {}, h('span', {}, 'Invited by'), h('span', { id: 'invitation-inviter' }, preview.inviter_email)),
    h('li', {}, h('span', {}, 'For'), h('span', { id: 'invitation-email' }, preview.email)),
    h('li', {}, h('span', {}, 'Role'), h('span', { class: 'badge' }, preview.role)),
    h('li', {}, h('span', {}, 'Expires'), h('time', { id: 'invitation-expires', datetime: preview.expires_at }, formatDateTime(preview.expires_at))));
  const heading = h('h1', {}, 'Join ', preview.organization_name);


  const accepted = () => {
    // The link has done its work: keep its token out of the history.
    navigate('/', { replace: true });
  };

  if (sessionToken()) {
    let me;
    try {
      me = await api('GET', '/v1/me');
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        throw error;
      }
    }
    if (stale()) {
      return;
    }
    if (me) {
      cardPage(heading, facts,
        h('p', {}, 'Signed in as ', h('strong', {}, me.user.email), '.'),
        form({ id: 'accept-form', 'aria-label': 'Accept the invitation' }, [
          h('button', { type: 'submit' }, 'Accept invitation'),
        ], async () => {
          try {
            await api('POST', '/v1/invitations/accept', { token });
          } catch (error) {
            if (error instanceof ApiError && error.code === 'invitation_email_mismatch') {
              throw new Error(`This invitation is for ${preview.email}, and you are signed in as ${me.user.email}. Sign out, then open the link again.`);
            }
            throw error;
          }
          accepted();
        }),
        h('p', { class: 'switch' }, 'Not you? ', h('button', {
          type: 'button',
          class: 'link',
          onclick: async () => { await signOut(false); route(); },
        }, 'Sign out')));
      return;
    }
  }

  const signUpForm = form({ id: 'invitation-signup-form', 'aria-label': 'Create an account and join' }, [
    signUpFields(preview.email),
    h('button', { type: 'submit' }, 'Create account and join'),
  ], async (data) => {
    let account;
    try {
      account = await signUp(data, token);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'email_taken') {
        throw new Error('An account with this address already exists: choose “I already have an account” below to sign in.');
      }
      throw error;
    }
    if (account.invitation && account.invitation.status === 'accepted') {
      accepted();
      return;
    }
    // The account exists; say why the invitation was not accepted with it.
    const code = account.invitation ? account.invitation.code : 'not_accepted';
    sessionStorage.setItem(NOTICE_KEY, code === 'invitation_email_mismatch'
      ? `Your account was created, but the invitation is for ${preview.email}, so it was not accepted.`
      : `Your account was created, but the invitation was not accepted (${code}).`);
    navigate('/', { replace: true });
  });
  const signInForm = form({ id: 'invitation-signin-form', 'aria-label': 'Sign in and join', hidden: true }, [
    signInFields(preview.email),
    h('button', { type: 'submit' }, 'Sign in and join'),
  ], async (data) => {
    await signIn(data);
    try {
      await api('POST', '/v1/invitations/accept', { token });
    } catch (error) {
      if (error instanceof ApiError && error.code === 'invitation_email_mismatch') {
        // Signed in all the same: say why the invitation was not accepted.
        sessionStorage.setItem(NOTICE_KEY, `You are signed in, but the invitation is for ${preview.email}, so it was not accepted.`);
        navigate('/', { replace: true });
        return;
      }
      throw error;
    }
    accepted();
  });
  const toggle = h('button', { type: 'button', class: 'link', id: 'invitation-toggle' }, 'I already have an account');
  toggle.addEventListener('click', () => {
    const showSignIn = signInForm.hidden;
    signInForm.hidden = !showSignIn;
    signUpForm.hidden = showSignIn;
    toggle.textContent = showSignIn ? 'Create a new account instead' : 'I already have an account';
    (showSignIn ? signInForm : signUpForm).querySelector('input').focus();
  });
  cardPage(heading, facts,
    h('p', {}, 'Create an account to join, or sign in if you already have one.'),
    signUpForm, signInForm,
    h('p', { class: 'switch' }, toggle));
}

// ---- verification and password reset links ----------------------------------------

// "Send a new verification email", which tells how it went in `status`.
function resendButton(id, status) {
  return h('button', {
    type: 'button',
    class: 'secondary',
    id,
    onclick: async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      status.textContent = '';
      try {
        await api('POST', '/v1/me/verification-email');
        status.textContent = 'A new verification email is on its way: open its link. The links of older ones no longer work.';
      } catch (error) {
        status.textContent = error.code === 'already_verified' ? 'Your email address is verified already.' : errorText(error);
      } finally {
        button.disabled = false;
      }
    },
  }, 'Send a new verification email');
}

// The page of a verification link verifies at once: opening the link is
// what the person came to do.
async function verifyEmailPage(token, stale) {
  let verified;
  try {
    if (!LINK_TOKEN.test(token)) {
      throw new ApiError(404, null);
    }
    verified = await api('POST', '/v1/auth/verify-email', { token });
  } catch (error) {
    if (stale()) {
      return;
    }
    if (!(error instanceof ApiError) || (error.status !== 404 && error.status !== 410)) {
      throw error;
    }
    let title = 'Link already used';
    let text = 'This verification link was already used or replaced by a newer email. If you asked for a new one, open the link in the newest email.';
    let next = leaveLink();
    if (error.status === 404) {
      title = 'Link not valid';
      text = 'This verification link is not valid. Check that you copied the whole link.';
    } else if (error.code === 'token_expired') {
      title = 'Link expired';
      text = 'This verification link has expired. Ask for a new verification email, and open the link in that one.';
      const status = h('p', { role: 'status' });
      // Asking for one needs a session: sign in first, then the account page offers it.
      next = sessionToken()
        ? [resendButton('resend-verification', status), status]
        : h('button', { type: 'button', id: 'verify-signin', onclick: () => signInFirst('/account') }, 'Sign in to ask for a new one');
    }
    cardPage(h('h1', {}, title), h('p', { role: 'alert', id: 'verify-status' }, text), h('div', { class: 'switch' }, next));
    return;
  }
  if (stale()) {
    return;
  }
  cardPage(h('h1', {}, 'Email address verified'),
    h('p', { role: 'status', id: 'verify-status' }, `${verified.user.email} is verified. You can invite people to your organizations now.`),
    h('p', { class: 'switch' }, leaveLink(sessionToken() ? 'Go to the console' : 'Sign in', '/', 'verify-continue')));
}

function forgotPasswordPage() {
  const back = () => h('p', { class: 'switch' }, h('a', { href: '/signin', 'data-link': true }, 'Back to sign in'));
  cardPage(
    h('h1', {}, 'Forgot your password?'),
    h('p', { class: 'muted' }, 'Enter the email address of your account: we send it a link to choose a new password.'),
    form({ id: 'forgot-form', 'aria-label': 'Ask for a password reset link' }, [
      field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true, id: 'forgot-email' }),
      h('button', { type: 'submit' }, 'Send the link'),
    ], async (data) => {
      await api('POST', '/v1/auth/password-reset', { email: data.get('email') });
      // The server answers the same whether the account exists or not.
      cardPage(h('h1', {}, 'Check your email'),
        h('p', { role: 'status', id: 'forgot-sent' },
          `If an account exists for ${data.get('email')}, an email with a link to choose a new password is on its way. The link works for one hour, once.`),
        back());
    }),
    back(),
  );
}

function resetPasswordPage(token) {
  const again = () => h('p', { class: 'switch' }, leaveLink('Ask for a new link', '/forgot-password'));
  const dead = (title, text) => cardPage(h('h1', {}, title), h('p', { role: 'alert', id: 'reset-status' }, text), again());
  if (!LINK_TOKEN.test(token)) {
    dead('Link not valid', 'This password reset link is not valid. Check that you copied the whole link.');
    return;
  }
  cardPage(
    h('h1', {}, 'Choose a new password'),
    form({ id: 'reset-form', 'aria-label': 'Choose a new password' }, [
      newPasswordField('New password', 'password', 'reset-password'),
      h('button', { type: 'submit' }, 'Set the new password'),
    ], async (data) => {
      try {
        await api('POST', '/v1/auth/password-reset/confirm', { token, password: data.get('password') });
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          dead('Link not valid', 'This password reset link is not valid. Check that you copied the whole link.');
        } else if (error instanceof ApiError && error.code === 'token_expired') {
          dead('Link expired', 'This password reset link has expired: reset links work for one hour. Ask for a new one.');
        } else if (error instanceof ApiError && error.code === 'token_used') {
          dead('Link already used', 'This password reset link was already used or replaced by a newer email.');
        } else {
          throw error;
        }
        return;
      }
      // Every session of the account ended, this tab's included.
      setSessionToken(null);
      cardPage(h('h1', {}, 'Password changed'),
        h('p', { role: 'status', id: 'reset-done' }, 'Your new password is set, and you are signed out everywhere: sign in again with the new password.'),
        h('p', { class: 'switch' }, leaveLink('Sign in', '/signin', 'reset-signin')));
    }),
    again(),
  );
}

async function signOut(go = true) {
  try {
    await api('POST', '/v1/auth/signout');
  } catch (error) {
    // Signed out already, or the server is gone: the local session ends either way.
  }
  setSessionToken(null);
  if (go) {
    navigate('/signin', { replace: true });
  }
}

// ---- the application shell -----------------------------------------------------------

// What the shell needs: the person, the active organization with the caller's
// capabilities, and every organization for the switcher. Asked afresh on every
// page load, so that a removal shows at once (R19).
async function loadContext() {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    // The active organization first: asking for it is what falls back to the
    // person's own organization after a removal (R19).
    const [me, active] = await Promise.all([
      api('GET', '/v1/me'),
      api('GET', '/v1/me/active-organization'),
      loadOperationTable(),
    ]);
    let organization;
    let organizations;
    let pinned;
    try {
      [organization, organizations, pinned] = await Promise.all([
        api('GET', `/v1/organizations/${active.organization.id}`),
        listAll('/v1/organizations'),
        pinnedItems(active.organization.id),
      ]);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        continue; // Removed between the calls: ask again, the server falls back.
      }
      throw error;
    }
    return { me: me.user, organization, organizations, pinned };
  }
  throw new Error('the active organization keeps changing');
}

// The items this person pinned in this organization, with their names.
async function pinnedItems(organizationId) {
  const base = `/v1/organizations/${organizationId}`;
  const pins = await listAll(`${base}/pins`);
  const kinds = [...new Set(pins.map((pin) => PIN_KINDS[pin.item_type]))];
  const lists = await Promise.all(kinds.map((kind) => listAll(`${base}/${kind}`)));
  const names = new Map();
  lists.flat().forEach((item) => names.set(item.id, item.name || item.label));
  return pins
    .filter((pin) => names.has(pin.item_id))
    .map((pin) => ({ pin, kind: PIN_KINDS[pin.item_type], name: names.get(pin.item_id) }));
}

// The table of operations (`GET /v1/roles`): each operation's name and the
// one capability it needs, as a Map. Asked with the shell's other data
// (`loadContext`) and kept for the rest of the page load; null until it
// arrives, or while it cannot be had, and then nothing is allowed.
let operationTable = null;

async function loadOperationTable() {
  if (!operationTable) {
    try {
      const matrix = await api('GET', '/v1/roles');
      operationTable = new Map(matrix.operations.map((operation) => [operation.name, operation.capability]));
    } catch (error) {
      // Fail closed: every control stays disabled and says why; the next
      // page drawn asks again.
    }
  }
  return operationTable;
}

// Whether the active organization lets this person ask for `operation`
// (an operation's name from the table): its `capabilities` include the
// capability that the table says the operation needs. An operation the
// table does not know, or no table, allows nothing.
function allowed(context, operation) {
  const capability = operationTable ? operationTable.get(operation) : undefined;
  return capability !== undefined && context.organization.capabilities.includes(capability);
}

async function appPage(path, stale) {
  const context = await loadContext();
  if (stale()) {
    return;
  }
  const notices = [];
  const shown = window.sessionStorage.getItem(SHOWN_ORG_KEY);
  if (shown) {
    const [shownId, ...name] = shown.split(':');
    if (shownId !== context.organization.id && !context.organizations.some((o) => o.id === shownId)) {
      notices.push(h('p', { class: 'notice', role: 'status', id: 'access-notice' },
        `You no longer have access to ${name.join(':')}. You are now in ${context.organization.name}.`));
    }
  }
  window.sessionStorage.setItem(SHOWN_ORG_KEY, `${context.organization.id}:${context.organization.name}`);
  for (const [key, kind] of [[NOTICE_KEY, 'notice'], [SUCCESS_KEY, 'success']]) {
    const text = window.sessionStorage.getItem(key);
    if (text) {
      window.sessionStorage.removeItem(key);
      notices.push(h('p', { class: kind, role: 'status' }, text));
    }
  }

  let section = path.replace(/^\/+|\/+$/g, '') || 'agents';
  if (section.startsWith('settings')) {
    const tab = section === 'settings/billing' && allowed(context, 'view_billing') ? 'billing' : 'organization';
    if (section !== 'settings' && tab === 'organization') {
      window.history.replaceState(null, '', '/settings');
    }
    section = tab === 'billing' ? 'settings/billing' : 'settings';
  } else if (section !== 'account' && !KINDS[section]) {
    section = 'agents';
    if (path !== '/') {
      window.history.replaceState(null, '', '/');
    }
  }
  const title = { account: 'Your account', settings: 'Settings', 'settings/billing': 'Settings' }[section] || KINDS[section].title;
  document.title = `${title} \u00b7 ${context.organization.name} \u00b7 tenancy`;
  const content = h('main', { class: 'content', id: 'content', tabindex: '-1' }, notices);
  const skip = h('a', {
    class: 'skip',
    href: '#content',
    onclick: (event) => {
      event.preventDefault();
      content.focus();
    },
  }, 'Skip to content');
  render(skip, h('div', { class: 'shell' }, sidebar(context, section), content));
  if (section === 'account') {
    await accountPage(context, content);
  } else if (section.startsWith('settings')) {
    await settingsPage(context, content, section === 'settings/billing' ? 'billing' : 'organization');
  } else {
    await resourcesPage(context, content, section);
  }
}

// When the server says the organization is gone mid-page, load again: the
// active organization falls back to the person's own.
async function guarded(action) {
  try {
    return await action();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && error.problem && error.problem.code === 'not_found') {
      await route();
      return undefined;
    }
    throw error;
  }
}

function sidebar(context, section) {
  const { organization } = context;
  const settingsAllowed = maySeeSettings(context);
  const settingsLink = h('a', {
    href: '/settings',
    'data-link': true,
    class: 'nav-item',
    id: 'nav-settings',
    'aria-current': section.startsWith('settings') ? 'page' : undefined,
  }, 'Settings');
  return h('aside', { class: 'sidebar', 'aria-label': 'Sidebar' },
    switcher(context),
    h('nav', { class: 'nav', 'aria-label': organization.name },
      h('div', { class: 'nav-heading' }, 'Workspace'),
      Object.entries(KINDS).map(([kind, spec]) => h('a', {
        href: `/${kind}`,
        'data-link': true,
        id: `nav-${kind}`,
        'aria-current': section === kind ? 'page' : undefined,
      }, spec.title)),
      context.pinned.length === 0 ? null : [
        h('div', { class: 'nav-heading', id: 'pinned-heading' }, 'Pinned'),
        h('ul', { class: 'pinned', id: 'pinned', 'aria-labelledby': 'pinned-heading' }, context.pinned.map(({ pin, kind, name }) => h('li', {},
          h('a', { href: `/${kind}`, 'data-link': true, 'data-item-id': pin.item_id }, name)))),
      ],
      h('div', { class: 'nav-heading' }, 'Organization'),
      gate(settingsLink, settingsAllowed)),
    h('div', { class: 'account' },
      h('div', { class: 'who', id: 'signed-in-as' }, context.me.display_name || context.me.email),
      h('div', { class: 'muted who' }, context.me.email),
      h('a', {
        href: '/account', 'data-link': true, id: 'nav-account', 'aria-current': section === 'account' ? 'page' : undefined,
      }, 'Your account'),
      h('button', { type: 'button', class: 'link', id: 'sign-out', onclick: () => signOut() }, 'Sign out')));
}

function switcher(context) {
  const { organization, organizations } = context;
  const button = h('button', {
    type: 'button',
    class: 'switcher-button',
    id: 'switcher',
    'aria-haspopup': 'menu',
    'aria-expanded': 'false',
    'aria-controls': 'switcher-list',
    'aria-label': `Organization: ${organization.name}. Switch organization`,
  }, h('span', { class: 'name' }, organization.name), icon('chevron'));
  const items = organizations.map((o) => h('li', { role: 'none' }, h('button', {
    type: 'button',
    role: 'menuitemradio',
    'aria-checked': o.is_active ? 'true' : 'false',
    class: 'org',
    'data-organization-id': o.id,
    onclick: () => switchTo(o.id),
  },
  o.is_owner ? icon('crown', 'Owner') : h('span', { class: 'spacer' }),
  h('span', { class: 'org-name' }, o.name),
  o.is_owner ? null : h('span', { class: 'badge', 'data-role': o.role }, o.role),
  o.is_active ? icon('check', 'Active') : h('span', { class: 'spacer' }))));
  const create = h('li', { role: 'none' }, h('button', {
    type: 'button',
    role: 'menuitem',
    class: 'create',
    id: 'create-organization',
    onclick: () => {
      close();
      // Cancelling the dialog gives the focus back to the switcher.
      createOrganizationDialog(button);
    },
  }, icon('plus'), 'Create New Organization'));
  // The visible heading stays outside the menu: a menu holds menu items only.
  const menu = h('div', { class: 'switcher-menu', id: 'switcher-menu', hidden: true },
    h('div', { class: 'heading', 'aria-hidden': 'true' }, 'Organizations'),
    h('ul', { role: 'menu', id: 'switcher-list', 'aria-label': 'Organizations' },
      items,
      h('li', { role: 'separator', class: 'separator' }),
      create));
  const entries = () => Array.from(menu.querySelectorAll('[role^="menuitem"]'));
  function open() {
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    const checked = menu.querySelector('[aria-checked="true"]') || entries()[0];
    checked.focus();
  }
  function close(focusButton) {
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    if (focusButton) {
      button.focus();
    }
  }
  button.addEventListener('click', () => (menu.hidden ? open() : close()));
  button.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      open();
    }
  });
  menu.addEventListener('keydown', (event) => {
    const list = entries();
    const index = list.indexOf(document.activeElement);
    if (event.key === 'ArrowDown') {
      event.preventDefault();
      list[(index + 1) % list.length].focus();
    } else if (event.key === 'ArrowUp') {
      event.preventDefault();
      list[(index - 1 + list.length) % list.length].focus();
    } else if (event.key === 'Home') {
      event.preventDefault();
      list[0].focus();
    } else if (event.key === 'End') {
      event.preventDefault();
      list[list.length - 1].focus();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      close(true);
    } else if (event.key === 'Tab') {
      close();
    }
  });
  return h('div', { class: 'switcher' }, button, menu);
}

async function switchTo(organizationId) {
  try {
    await guarded(() => api('PUT', '/v1/me/active-organization', { organization_id: organizationId }));
  } catch (error) {
    // Whatever went wrong, draw the page afresh: it shows where one stands.
  }
  navigate('/');
}

// A modal dialog with a form. When it closes, the focus returns to
// `returnFocus` (by default whatever had it when the dialog opened).
function dialog(title, fields, submitLabel, action, returnFocus = document.activeElement) {
  const element = h('dialog', { 'aria-label': title });
  const close = () => element.close();
  element.append(h('h2', {}, title), form({ method: 'dialog' }, [
    fields,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: close }, 'Cancel'),
      h('button', { type: 'submit' }, submitLabel)),
  ], async (data) => {
    await action(data);
    close();
  }));
  element.addEventListener('close', () => {
    element.remove();
    if (returnFocus && returnFocus.isConnected) {
      returnFocus.focus();
    }
  });
  document.body.append(element);
  element.showModal();
  return element;
}

function createOrganizationDialog(returnFocus) {
  const element = dialog('Create New Organization', [
    field('Organization name', { name: 'name', required: true, maxlength: 100, id: 'new-organization-name' }),
    h('p', { class: 'muted' }, 'It starts on the free plan, with no resources.'),
  ], 'Create Organization', async (data) => {
    await api('POST', '/v1/organizations', { name: data.get('name') });
    // The new organization is now the active one (R5).
    navigate('/');
  }, returnFocus);
  element.id = 'create-organization-dialog';
}

// ---- the account -------------------------------------------------------------------------

function timeOf(value) {
  return h('time', { datetime: value }, formatDateTime(value));
}

async function accountPage(context, content) {
  const { me } = context;
  const reload = () => navigate('/account', { replace: true });
  append(content, [h('div', { class: 'content-head' }, h('div', {}, h('h1', {}, 'Your account'),
    h('p', { class: 'muted', id: 'account-email' }, me.email, ' \u00b7 ', me.email_verified ? 'verified' : 'not verified')))]);
  const panel = h('section', { class: 'section' });
  append(content, [panel]);
  if (!me.email_verified) {
    const status = h('p', { role: 'status' });
    append(panel, [h('div', { class: 'notice', id: 'verify-notice' },
      h('p', {}, `Your email address is not verified yet: open the link in the verification email sent to ${me.email}. Inviting people needs a verified address.`),
      resendButton('resend-verification', status), status)]);
  }

  const sessions = await listAll('/v1/me/sessions');
  const alert = h('p', { class: 'error', role: 'alert', id: 'sessions-error' });
  append(panel, [
    h('h2', {}, 'Sessions'),
    h('p', { class: 'muted' }, 'Where you are signed in. Ending a session signs it out at once.'),
    alert,
    h('table', { id: 'sessions-table', 'aria-label': 'Sessions' },
      h('thead', {}, h('tr', {}, ['Signed in', 'Last used', 'Expires'].map((title) => h('th', { scope: 'col' }, title)),
        h('th', { scope: 'col' }, h('span', { class: 'muted' }, 'Actions')))),
      h('tbody', {}, sessions.map((session) => h('tr', { 'data-id': session.id, 'data-current': String(session.current) },
        h('td', {}, timeOf(session.created_at), session.current ? [' ', h('span', { class: 'badge' }, 'this session')] : null),
        h('td', {}, timeOf(session.last_used_at)),
        h('td', {}, timeOf(session.expires_at)),
        h('td', { class: 'actions-cell' }, session.current ? null : h('button', {
          type: 'button',
          class: 'danger',
          'data-action': 'end',
          'aria-label': `End the session signed in ${formatDateTime(session.created_at)}`,
          onclick: rowAction(alert, () => api('DELETE', `/v1/me/sessions/${session.id}`), reload),
        }, 'End')))))),
    h('h2', {}, 'Change your password'),
    h('p', { class: 'muted' }, 'Your other sessions end; this one goes on.'),
    form({ id: 'password-form', class: 'stacked-form', 'aria-label': 'Change your password' }, [
      field('Current password', {
        name: 'current_password', type: 'password', autocomplete: 'current-password', required: true, id: 'current-password',
      }),
      newPasswordField('New password', 'new_password', 'new-password'),
      h('button', { type: 'submit', id: 'change-password' }, 'Change password'),
    ], async (data) => {
      try {
        await api('PUT', '/v1/me/password', {
          current_password: data.get('current_password'),
          new_password: data.get('new_password'),
        });
      } catch (error) {
        if (error instanceof ApiError && error.code === 'forbidden') {
          throw new Error('The current password is wrong.');
        }
        throw error;
      }
      sessionStorage.setItem(SUCCESS_KEY, 'Your password is changed, and your other sessions have ended.');
      reload();
    }),
  ]);
}

// ---- resources ---------------------------------------------------------------------------

// The action of a button in a table row: the button is disabled while it
// runs (a second click sends nothing), an error shows in `alert`, and
// `after` draws the page again.
function rowAction(alert, work, after) {
  return async (event) => {
    const button = event.currentTarget;
    alert.textContent = '';
    button.disabled = true;
    try {
      await guarded(work);
      after();
    } catch (error) {
      alert.textContent = errorText(error);
      button.disabled = false;
    }
  };
}

const COLUMNS = {
  agents: [['Name', (a) => a.name], ['Description', (a) => a.description || '\u2014'], ['Connections', (a) => String(a.connection_ids.length)], ['Created', (a) => formatDate(a.created_at)]],
  connections: [['Label', (c) => c.label], ['Type', (c) => c.type], ['Credentials', (c) => (c.has_credentials ? `set ${c.credentials_updated_at ? formatDate(c.credentials_updated_at) : ''}` : 'none')], ['Created', (c) => formatDate(c.created_at)]],
  reports: [['Name', (r) => r.name], ['Schedule', (r) => (r.schedule ? `${r.schedule.cron} (${r.schedule.timezone})` : '\u2014')], ['Created', (r) => formatDate(r.created_at)]],
  'knowledge-files': [['Name', (f) => f.name], ['Type', (f) => f.content_type], ['Size', (f) => formatBytes(f.size_bytes)], ['Uploaded', (f) => formatDate(f.created_at)]],
};

async function resourcesPage(context, content, kind) {
  const spec = KINDS[kind];
  const { organization } = context;
  const organizationBase = `/v1/organizations/${organization.id}`;
  const base = `${organizationBase}/${kind}`;
  const createButton = h('button', {
    type: 'button', id: `create-${kind}`, onclick: () => createDialog(context, kind),
  }, icon('plus'), `New ${spec.singular}`);
  append(content, [h('div', { class: 'content-head' },
    h('div', {}, h('h1', {}, spec.title), h('p', { class: 'muted' }, organization.name)),
    gate(createButton, spec.mayCreate(context)))]);
  const items = await guarded(() => listAll(base));
  if (items === undefined) {
    return;
  }
  if (items.length === 0) {
    append(content, [h('p', { class: 'empty', id: `${kind}-empty` }, `No ${spec.title.toLowerCase()} yet.`)]);
    return;
  }
  const columns = COLUMNS[kind];
  const alert = h('p', { class: 'error', role: 'alert', id: `${kind}-error` });
  const act = (work) => rowAction(alert, work, () => navigate(`/${kind}`, { replace: true }));
  const pins = new Map(context.pinned.map(({ pin }) => [pin.item_id, pin.id]));
  const mayPin = allowed(context, 'pin');
  const mayUnpin = allowed(context, 'unpin');
  const mayDelete = spec.mayDelete(context);
  const actions = (item) => {
    const label = item.name || item.label;
    const pinned = pins.get(item.id);
    const pin = PIN_TYPES[kind] ? gate(h('button', {
      type: 'button',
      class: 'secondary',
      'aria-label': `${pinned ? 'Unpin' : 'Pin'} ${label}`,
      'data-action': 'pin',
      onclick: act(() => (pinned
        ? api('DELETE', `${organizationBase}/pins/${pinned}`)
        : api('POST', `${organizationBase}/pins`, { item_type: PIN_TYPES[kind], item_id: item.id }))),
    }, pinned ? 'Unpin' : 'Pin'), pinned ? mayUnpin : mayPin) : null;
    const remove = gate(h('button', {
      type: 'button',
      class: 'danger',
      'aria-label': `Delete ${label}`,
      'data-action': 'delete',
      onclick: act(async () => {
        if (window.confirm(`Delete ${label}? This cannot be undone.`)) {
          await api('DELETE', `${base}/${item.id}`);
        }
      }),
    }, 'Delete'), mayDelete);
    return h('td', { class: 'actions-cell' }, h('span', { class: 'row-actions' }, pin, remove));
  };
  append(content, [alert, h('table', { id: `${kind}-table`, 'aria-label': spec.title },
    h('thead', {}, h('tr', {}, columns.map(([title]) => h('th', { scope: 'col' }, title)),
      h('th', { scope: 'col' }, h('span', { class: 'muted' }, 'Actions')))),
    h('tbody', {}, items.map((item) => h('tr', { 'data-id': item.id, 'data-name': item.name || item.label },
      columns.map(([, value]) => h('td', {}, value(item))), actions(item)))))]);
}

function createDialog(context, kind) {
  const base = `/v1/organizations/${context.organization.id}/${kind}`;
  const done = () => navigate(`/${kind}`, { replace: true });
  if (kind === 'agents') {
    dialog('New agent', [
      field('Name', { name: 'name', required: true, maxlength: 200, id: 'agent-name' }),
      field('Description', { name: 'description', tag: 'textarea', id: 'agent-description' }),
    ], 'Create agent', async (data) => {
      await guarded(() => api('POST', base, { name: data.get('name'), description: data.get('description') }));
      done();
    });
  } else if (kind === 'connections') {
    dialog('New connection', [
      field('Label', { name: 'label', required: true, maxlength: 200, id: 'connection-label' }),
      field('Type', { name: 'type', required: true, placeholder: 'postgres, aws, github\u2026', id: 'connection-type' }),
      h('div', { class: 'pair' },
        field('Secret name', { name: 'secret_name', required: true, value: 'api_key', id: 'connection-secret-name' }),
        field('Secret value', { name: 'secret_value', type: 'password', required: true, autocomplete: 'off', id: 'connection-secret-value' })),
      h('p', { class: 'muted' }, 'Stored encrypted; never shown again, to anyone.'),
    ], 'Create connection', async (data) => {
      await guarded(() => api('POST', base, {
        label: data.get('label'),
        type: data.get('type'),
        credentials: { [data.get('secret_name')]: data.get('secret_value') },
      }));
      done();
    });
  } else if (kind === 'reports') {
    dialog('New report', [
      field('Name', { name: 'name', required: true, maxlength: 200, id: 'report-name' }),
      field('Definition (a JSON object)', { name: 'definition', tag: 'textarea', id: 'report-definition' }),
    ], 'Create report', async (data) => {
      const text = (data.get('definition') || '').trim() || '{}';
      let definition;
      try {
        definition = JSON.parse(text);
      } catch (error) {
        throw new Error('The definition is not valid JSON.');
      }
      await guarded(() => api('POST', base, { name: data.get('name'), definition }));
      done();
    });
  } else {
    dialog('Upload a knowledge file', [
      field('File', { name: 'file', type: 'file', required: true, id: 'knowledge-file' }),
    ], 'Upload', async (data) => {
      await guarded(() => api('POST', base, data));
      done();
    });
  }
}

// ---- settings ------------------------------------------------------------------------------

async function settingsPage(context, content, tab) {
  const { organization } = context;
  const tabs = [['organization', 'Organization', '/settings']];
  if (allowed(context, 'view_billing')) {
    tabs.push(['billing', 'Billing', '/settings/billing']);
  }
  append(content, [
    h('div', { class: 'content-head' }, h('div', {}, h('h1', {}, 'Settings'), h('p', { class: 'muted' }, organization.name))),
    // The tabs are links to pages of their own (each has its address), so
    // they are a navigation, not an ARIA tab list.
    h('nav', { class: 'tabs', 'aria-label': 'Settings' }, tabs.map(([id, title, href]) => h('a', {
      href, 'data-link': true, id: `tab-${id}`, 'aria-current': tab === id ? 'page' : undefined,
    }, title))),
  ]);
  const panel = h('section', { class: 'section', 'aria-labelledby': `tab-${tab}` });
  append(content, [panel]);
  if (tab === 'billing') {
    await billingTab(context, panel);
  } else {
    await organizationTab(context, panel);
  }
}

async function organizationTab(context, panel) {
  const { organization } = context;
  const base = `/v1/organizations/${organization.id}`;
  const mayRename = allowed(context, 'rename_organization');
  const mayInvite = allowed(context, 'invite_member');
  const maySeeMembers = allowed(context, 'list_members') && allowed(context, 'list_invitations');
  const mayRevoke = allowed(context, 'revoke_invitation');
  const mayRemove = allowed(context, 'remove_member');
  const reload = () => navigate('/settings', { replace: true });
  // Shown when the server refuses an invitation until the inviter's address
  // is verified (a server may also let unverified owners invite).
  const verificationStatus = h('p', { role: 'status' });
  const unverified = h('div', { class: 'notice', id: 'invite-unverified', hidden: true },
    h('p', { role: 'alert' }, `Verify your email address before you invite anyone: open the link in the verification email sent to ${context.me.email}. `,
      'Your ', h('a', { href: '/account', 'data-link': true }, 'account page'), ' shows whether it is verified.'),
    resendButton('invite-resend-verification', verificationStatus), verificationStatus);

  append(panel, [
    h('h2', {}, 'Organization name'),
    form({ id: 'rename-form', class: 'inline-form', 'aria-label': 'Rename the organization' }, [
      field('Name', {
        name: 'name', required: true, maxlength: 100, value: organization.name, id: 'organization-name', disabled: !mayRename,
      }),
      gate(h('button', { type: 'submit', id: 'rename' }, 'Save'), mayRename),
    ], async (data) => {
      await guarded(() => api('PATCH', base, { name: data.get('name') }));
      reload();
    }),
    h('h2', {}, 'Invite a team member'),
    h('p', { class: 'muted' }, 'Invited members join as viewers. The link in the email works for 7 days.'),
    form({ id: 'invite-form', class: 'inline-form', 'aria-label': 'Invite a team member' }, [
      field('Email address', {
        name: 'email', type: 'email', required: true, autocomplete: 'off', id: 'invite-email', disabled: !mayInvite,
      }),
      gate(h('button', { type: 'submit', id: 'invite' }, 'Invite'), mayInvite),
    ], async (data) => {
      let invitation;
      try {
        invitation = await guarded(() => api('POST', `${base}/invitations`, { email: data.get('email') }));
      } catch (error) {
        if (error instanceof ApiError && error.code === 'email_unverified') {
          unverified.hidden = false;
          unverified.querySelector('button').focus();
          return;
        }
        throw error;
      }
      if (invitation) {
        sessionStorage.setItem(SUCCESS_KEY, `Invitation sent to ${invitation.email}.`);
        reload();
      }
    }),
    unverified,
  ]);

  if (!maySeeMembers) {
    append(panel, [h('p', { class: 'notice', id: 'members-view-only' }, operationTable
      ? `${VIEW_ONLY}: only people who manage members see invitations and members.`
      : `${NO_PERMISSIONS}.`)]);
    return;
  }

  const [invitations, members] = await guarded(() => Promise.all([
    listAll(`${base}/invitations`),
    listAll(`${base}/members`),
  ])) || [];
  if (!members) {
    return;
  }
  const actionAlert = h('p', { class: 'error', role: 'alert', id: 'settings-error' });
  const act = (work) => rowAction(actionAlert, work, reload);

  append(panel, [
    actionAlert,
    h('h2', {}, 'Pending invitations'),
    invitations.length === 0
      ? h('p', { class: 'empty', id: 'invitations-empty' }, 'No pending invitations.')
      : h('table', { id: 'invitations-table', 'aria-label': 'Pending invitations' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Email'), h('th', { scope: 'col' }, 'Role'),
          h('th', { scope: 'col' }, 'Expires'), h('th', { scope: 'col' }, h('span', { class: 'muted' }, 'Actions')))),
        h('tbody', {}, invitations.map((invitation) => h('tr', { 'data-id': invitation.id, 'data-email': invitation.email },
          h('td', {}, invitation.email),
          h('td', {}, h('span', { class: 'badge' }, invitation.role)),
          h('td', {}, h('time', { datetime: invitation.expires_at }, formatDate(invitation.expires_at))),
          h('td', { class: 'actions-cell' }, gate(h('button', {
            type: 'button',
            class: 'danger',
            'aria-label': `Revoke the invitation of ${invitation.email}`,
            onclick: act(() => api('DELETE', `${base}/invitations/${invitation.id}`)),
          }, 'Revoke'), mayRevoke)))))),
    h('h2', {}, 'Members'),
    h('table', { id: 'members-table', 'aria-label': 'Members' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Member'), h('th', { scope: 'col' }, 'Role'),
        h('th', { scope: 'col' }, 'Joined'), h('th', { scope: 'col' }, h('span', { class: 'muted' }, 'Actions')))),
      h('tbody', {}, members.map((member) => h('tr', { 'data-id': member.user_id, 'data-email': member.email },
        h('td', {}, member.display_name ? [member.display_name, h('div', { class: 'muted' }, member.email)] : member.email),
        h('td', {}, h('span', { class: 'badge' }, member.role)),
        h('td', {}, h('time', { datetime: member.joined_at }, formatDate(member.joined_at))),
        h('td', { class: 'actions-cell' }, member.role === 'owner' ? null : gate(h('button', {
          type: 'button',
          class: 'danger',
          'aria-label': `Remove ${member.email}`,
          onclick: act(async () => {
            if (window.confirm(`Remove ${member.email} from ${organization.name}? They lose access at once.`)) {
              await api('DELETE', `${base}/members/${member.user_id}`);
            }
          }),
        }, 'Remove'), mayRemove)))))),
  ]);
}

const QUANTITIES = [
  ['agents', 'agents', 'Agents'],
  ['connections', 'connections', 'Connections'],
  ['reports', 'reports', 'Reports'],
  ['chat_messages_per_month', 'chat_messages_this_month', 'Chat messages this month'],
  ['knowledge_files', 'knowledge_files', 'Knowledge files'],
  ['storage_bytes', 'storage_bytes', 'Storage', formatBytes],
];

function formatBytes(bytes) {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

async function billingTab(context, panel) {
  const base = `/v1/organizations/${context.organization.id}/billing`;
  const [billing, plans] = await guarded(() => Promise.all([api('GET', base), listAll('/v1/plans')])) || [];
  if (!billing) {
    return;
  }
  const current = plans.find((p) => p.id === billing.plan);
  // Members may pick the self-serve plans only; the others are set by the
  // provider's billing system. The current plan stays listed either way.
  const choices = plans.filter((p) => p.self_serve || p.id === billing.plan);
  append(panel, [
    h('h2', {}, 'Plan'),
    h('p', {}, 'This organization is on the ', h('span', { class: 'plan-name', id: 'plan-name' }, current ? current.name : billing.plan),
      ' plan. Each organization has its own plan; its members share its limits.'),
    form({ id: 'plan-form', class: 'inline-form', 'aria-label': 'Change plan' }, [
      field('Switch to', { name: 'plan', tag: 'select', id: 'plan-select', options: choices.map((p) => [p.id, p.name]) }),
      gate(h('button', { type: 'submit', id: 'change-plan' }, 'Change plan'), allowed(context, 'change_plan')),
    ], async (data) => {
      await guarded(() => api('PUT', `${base}/plan`, { plan: data.get('plan') }));
      navigate('/settings/billing', { replace: true });
    }),
    h('h2', {}, 'Usage'),
    QUANTITIES.map(([limitKey, usageKey, title, format = String]) => {
      const used = billing.usage[usageKey];
      const limit = billing.limits[limitKey];
      const id = `usage-${usageKey}`;
      return h('div', { class: 'usage', id },
        h('span', { id: `${id}-label` }, title),
        limit === null
          ? h('span', { class: 'muted' }, 'unlimited')
          : h('progress', { max: limit, value: Math.min(used, limit), 'aria-labelledby': `${id}-label` }),
        h('span', { class: 'figure' }, limit === null ? format(used) : `${format(used)} of ${format(limit)}`));
    }),
  ]);
  const select = panel.querySelector('#plan-select');
  select.value = billing.plan;
}

route();
