import { describe, expect, it } from "vitest";

import { ApiClient, ApiKeyStore, type LoginLocation, takeKeyFromFragment } from "./client";

class MemoryStorage {
  private readonly items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  clear(): void {
    this.items.clear();
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

function fakeLocation(hash: string): LoginLocation & { replaced: string[] } {
  const replaced: string[] = [];
  return {
    hash,
    replaced,
    replaceHash(next: string) {
      replaced.push(next);
    },
  };
}

describe("login URL", () => {
  it("takes the key from the fragment and drops it from the address bar", () => {
    const location = fakeLocation("#key=abc-123_XYZ");
    expect(takeKeyFromFragment(location)).toBe("abc-123_XYZ");
    expect(location.replaced).toEqual([""]);
  });

  it("keeps other fragment parameters", () => {
    const location = fakeLocation("#key=k1&view=runs");
    expect(takeKeyFromFragment(location)).toBe("k1");
    expect(location.replaced).toEqual(["#view=runs"]);
  });

  it("leaves a fragment without a key alone", () => {
    const location = fakeLocation("#view=runs");
    expect(takeKeyFromFragment(location)).toBeNull();
    expect(location.replaced).toEqual([]);
  });

  it("stores the key from the URL over an older stored one", () => {
    const storage = new MemoryStorage();
    storage.setItem("conductor.apiKey", "old");
    const keys = new ApiKeyStore(storage, fakeLocation("#key=new"));
    expect(keys.get()).toBe("new");
    expect(storage.getItem("conductor.apiKey")).toBe("new");
    expect(keys.authHeaders()).toEqual({ Authorization: "Bearer new" });
  });
});

describe("ApiClient", () => {
  function recordingClient(): { client: ApiClient; calls: RequestInit[] } {
    const calls: RequestInit[] = [];
    const fetchImpl = (async (_url: RequestInfo | URL, init?: RequestInit) => {
      calls.push(init ?? {});
      return new Response("{}", { status: 200, headers: { "Content-Type": "application/json" } });
    }) as typeof fetch;
    return { client: new ApiClient(new ApiKeyStore(null, null), "", fetchImpl), calls };
  }

  it("says JSON on every state-changing request, with or without a body", async () => {
    const { client, calls } = recordingClient();
    await client.post("/api/projects/p/tasks/t/resume");
    await client.delete("/api/projects/p/tasks/t");
    await client.post("/api/v1/messages", { body: "hi" });
    for (const init of calls) {
      expect((init.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
    }
    expect(calls[0]?.body).toBeUndefined();
    expect(calls[2]?.body).toBe('{"body":"hi"}');
  });

  it("sends no Content-Type on GET", async () => {
    const { client, calls } = recordingClient();
    await client.get("/api/v1/status");
    expect((calls[0]?.headers as Record<string, string>)["Content-Type"]).toBeUndefined();
  });
});
