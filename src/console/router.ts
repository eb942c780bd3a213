import { useEffect, useState } from 'preact/hooks';
import { decodeOrKeep } from '../util/decode';

/** The console's place: the hash (`#/calls/c-1?x=y`), so the server serves one page. */
export interface Route {
  path: string[];
  params: URLSearchParams;
}

function current(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path = '', search = ''] = hash.split('?');
  // A malformed escape (a hand-edited address) stays as typed: the screen then says it finds nothing.
  return { path: path.split('/').filter(Boolean).map(decodeOrKeep), params: new URLSearchParams(search) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}

/** A link target for `path` segments and query parameters. */
export function href(path: string[], params?: URLSearchParams): string {
  const search = params && params.toString() ? `?${params.toString()}` : '';
  return `#/${path.map(encodeURIComponent).join('/')}${search}`;
}

/** Runs `refresh` every `ms` while the page is visible. */
export function useEvery(ms: number, refresh: () => void, enabled = true): void {
  useEffect(() => {
    if (!enabled) return undefined;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') refresh();
    }, ms);
    return () => clearInterval(timer);
  }, [ms, refresh, enabled]);
}
