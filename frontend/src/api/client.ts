/**
 * The REST client: one place that adds the API key, turns the server's error body
 * (`{"error": {"code", "message"}}`) into an `ApiError`, and tells the app when the
 * server asks for a key (401) so that it can prompt for one.
 */

const KEY_STORAGE = "conductor.apiKey";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;

  constructor(status: number, code: string, message: string, requestId: string | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }

  /** "code: message" as shown to the user. */
  describe(): string {
    return this.status ? `${this.message} (${this.code}, HTTP ${this.status})` : this.message;
  }
}

/** Any thrown value as text a user can act on. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.describe();
  if (error instanceof Error) return error.message;
  return String(error);
}

type Listener = () => void;

/** The optional API key, kept in localStorage so that a reload does not ask again. */
export class ApiKeyStore {
  private key: string | null;
  private readonly listeners = new Set<Listener>();
  private unauthorized = false;

  constructor(
    private readonly storage: Storage | null = safeLocalStorage(),
    location: LoginLocation | null = safeLocation(),
  ) {
    this.key = storage?.getItem(KEY_STORAGE) ?? null;
    const fromUrl = location ? takeKeyFromFragment(location) : null;
    if (fromUrl) {
      this.key = fromUrl;
      storage?.setItem(KEY_STORAGE, fromUrl);
    }
  }

  get(): string | null {
    return this.key;
  }

  set(key: string | null): void {
    this.key = key && key.trim() ? key.trim() : null;
    if (this.key) this.storage?.setItem(KEY_STORAGE, this.key);
    else this.storage?.removeItem(KEY_STORAGE);
    this.unauthorized = false;
    this.emit();
  }

  /** True after a 401 until a new key is set: the app shows the key prompt. */
  get needsKey(): boolean {
    return this.unauthorized;
  }

  reportUnauthorized(): void {
    if (!this.unauthorized) {
      this.unauthorized = true;
      this.emit();
    }
  }

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  authHeaders(): Record<string, string> {
    return this.key ? { Authorization: `Bearer ${this.key}` } : {};
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

/** What the key store needs of `window.location` and `history` (tests pass a fake). */
export interface LoginLocation {
  hash: string;
  /** Replace the address bar's URL (without the key) without navigating. */
  replaceHash(hash: string): void;
}

/**
 * The key from a login URL (`/ui/#key=...`, printed by the server and by `conductor key`),
 * removed from the address bar at once so that it is neither bookmarked nor shared. The
 * key travels in the fragment because browsers never send a fragment to a server.
 */
export function takeKeyFromFragment(location: LoginLocation): string | null {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const key = params.get("key");
  if (key === null) return null;
  params.delete("key");
  const rest = params.toString();
  location.replaceHash(rest ? `#${rest}` : "");
  return key.trim() || null;
}

function safeLocation(): LoginLocation | null {
  if (typeof window === "undefined" || !window.location) return null;
  return {
    hash: window.location.hash,
    replaceHash(hash: string) {
      const { pathname, search } = window.location;
      window.history.replaceState(window.history.state, "", `${pathname}${search}${hash}`);
    },
  };
}

function safeLocalStorage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

export type Query = Record<string, string | number | undefined | null>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Return the body as text instead of parsing JSON. */
  text?: boolean;
}

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export class ApiClient {
  constructor(
    readonly keys: ApiKeyStore,
    private readonly baseUrl = "",
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  url(path: string, query?: Query): string {
    return this.baseUrl + withQuery(path, query);
  }

  get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>("GET", path, options);
  }

  post<T>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>("POST", path, { ...options, body });
  }

  delete<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>("DELETE", path, options);
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...this.keys.authHeaders() };
    // The server refuses state-changing requests that do not say JSON, body or not: it is
    // what a cross-site form cannot send.
    if (method !== "GET" && method !== "HEAD") headers["Content-Type"] = "application/json";
    const body = options.body !== undefined ? JSON.stringify(options.body) : undefined;
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path, options.query), {
        method,
        headers,
        body,
        signal: options.signal,
      });
    } catch (error) {
      if (isAbort(error)) throw error;
      throw new ApiError(0, "network_error", `cannot reach the server (${describeError(error)})`);
    }
    if (!response.ok) throw await errorFrom(response, this.keys);
    if (options.text) return (await response.text()) as T;
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
}

/** The server's error body as an ApiError; reports 401s to the key store. */
export async function errorFrom(response: Response, keys?: ApiKeyStore): Promise<ApiError> {
  if (response.status === 401) keys?.reportUnauthorized();
  const requestId = response.headers.get("X-Request-ID");
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const text = await response.text();
    try {
      const parsed: unknown = JSON.parse(text);
      const detail = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : null;
      if (detail) {
        if (typeof detail.code === "string") code = detail.code;
        if (typeof detail.message === "string") message = detail.message;
      } else if (text.trim()) {
        message = text.trim().slice(0, 500);
      }
    } catch {
      if (text.trim()) message = text.trim().slice(0, 500);
    }
  } catch {
    // the body could not be read: the status line is all there is
  }
  return new ApiError(response.status, code, message, requestId);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}
