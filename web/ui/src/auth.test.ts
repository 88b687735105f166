import { describe as suite, expect, it } from 'vitest';
import { currentSession, describe, signIn, type FetchLike } from './auth';

function fakeFetch(valid: string): { f: FetchLike; calls: { url: string; init?: RequestInit }[] } {
  const calls: { url: string; init?: RequestInit }[] = [];
  let signedIn = false;
  const f: FetchLike = async (url, init) => {
    calls.push({ url, init });
    const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
    if (init?.method === 'POST') {
      const { token } = JSON.parse(String(init.body)) as { token: string };
      if (token !== valid) return json(401, { error: { code: 'unauthorized', message: 'the token is not valid' } });
      signedIn = true;
      return json(200, { auth: true, token_id: 'abc', role: 'tenant', tenant: 'acme' });
    }
    return signedIn ? json(200, { auth: true, token_id: 'abc', role: 'tenant', tenant: 'acme' }) : json(401, { error: { code: 'unauthorized', message: 'token required' } });
  };
  return { f, calls };
}

suite('session', () => {
  it('is null until signed in, then says who', async () => {
    const { f, calls } = fakeFetch('nva_good');
    expect(await currentSession('/api/v1', f)).toBeNull();
    expect(await signIn('/api/v1', 'nva_bad', f)).toEqual({ error: 'the token is not valid' });
    const s = await signIn('/api/v1', '  nva_good\n', f);
    expect('error' in s).toBe(false);
    expect(await currentSession('/api/v1', f)).toMatchObject({ role: 'tenant', tenant: 'acme' });
    // The sign-in is a JSON POST (the API refuses anything else from a browser).
    const post = calls.find((c) => c.init?.method === 'POST')!;
    expect(new Headers(post.init!.headers).get('Content-Type')).toBe('application/json');
    expect(post.url).toBe('/api/v1/session');
  });

  it('describes the signed-in principal', () => {
    expect(describe({ auth: false, role: 'admin' })).toBe('');
    expect(describe({ auth: true, token_id: 'x', role: 'tenant', tenant: 'acme' })).toBe('tenant acme');
    expect(describe({ auth: true, token_id: 'x', role: 'admin', name: 'bootstrap' })).toBe('admin (bootstrap)');
  });
});
