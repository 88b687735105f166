// Signing in to an nva that requires API tokens. The UI's requests and
// its EventSource (which cannot send an Authorization header) carry the
// session cookie that POST /api/v1/session sets from a token (HttpOnly,
// SameSite=Strict: scripts never read it). On an nva that requires no
// token (a loopback API without --auth) GET /api/v1/session answers 200
// at once and no prompt is shown.

/** The part of fetch this module uses (injected in tests). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Who the UI is signed in as (GET/POST /api/v1/session). */
export interface Session {
  auth: boolean;
  token_id?: string;
  name?: string;
  role: string;
  tenant?: string;
}

/** The session, or null when the API answers 401 (a token is needed). */
export async function currentSession(api: string, f: FetchLike): Promise<Session | null> {
  const res = await f(`${api}/session`, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  if (res.status === 401) return null;
  if (!res.ok) throw new Error(`GET ${api}/session: ${res.status}`);
  return (await res.json()) as Session;
}

/** Signs in with a token; the session, or the server's reason. */
export async function signIn(api: string, token: string, f: FetchLike): Promise<Session | { error: string }> {
  const res = await f(`${api}/session`, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify({ token: token.trim() }),
  });
  const body = (await res.json().catch(() => null)) as (Session & { error?: { message?: string } }) | null;
  if (!res.ok) return { error: body?.error?.message ?? `sign-in failed (${res.status})` };
  return body as Session;
}

/** One line saying who is signed in ("" for an nva without tokens). */
export function describe(s: Session): string {
  if (!s.auth && !s.token_id) return '';
  const who = s.role === 'tenant' && s.tenant ? `tenant ${s.tenant}` : s.role;
  return s.name ? `${who} (${s.name})` : who;
}

/**
 * Resolves once the UI has a session: at once when the API needs no
 * token or the cookie is valid, otherwise after the user enters a token
 * in the prompt (shown until one is accepted).
 */
export async function ensureSession(api: string, f: FetchLike, doc: Document): Promise<Session> {
  const s = await currentSession(api, f);
  if (s) return s;
  return new Promise((resolve) => {
    const dlg = doc.createElement('form');
    dlg.id = 'signin';
    dlg.setAttribute('data-testid', 'signin');
    dlg.innerHTML =
      '<h2>Sign in to nva</h2>' +
      '<p>This nva requires an API token (<code>nvactl token create</code>; a new cluster writes its first admin token to <code>&lt;data-dir&gt;/admin.token</code>).</p>' +
      '<input type="password" name="token" data-testid="signin-token" placeholder="nva_…" autocomplete="off" spellcheck="false" required />' +
      '<button type="submit" data-testid="signin-submit">sign in</button>' +
      '<p class="error" data-testid="signin-error" hidden></p>';
    const input = dlg.querySelector('input') as HTMLInputElement;
    const err = dlg.querySelector('.error') as HTMLElement;
    dlg.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void signIn(api, input.value, f).then((r) => {
        if ('error' in r) {
          err.textContent = r.error;
          err.hidden = false;
          return;
        }
        dlg.remove();
        resolve(r);
      });
    });
    doc.body.appendChild(dlg);
    input.focus();
  });
}
