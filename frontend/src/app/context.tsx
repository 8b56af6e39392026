/** The services every component reaches through context: API, key, explorer, notices. */

import { createContext, useContext, useSyncExternalStore, type ReactNode } from "react";
import type { ApiKeyStore } from "../api/client";
import type { ConductorApi } from "../api/endpoints";
import type { ExplorerStore } from "../explorer/explorerStore";
import type { NoticeStore } from "./notices";

export interface AppServices {
  api: ConductorApi;
  keys: ApiKeyStore;
  explorer: ExplorerStore;
  notices: NoticeStore;
}

const AppContext = createContext<AppServices | null>(null);

export function AppProvider({ services, children }: { services: AppServices; children: ReactNode }) {
  return <AppContext.Provider value={services}>{children}</AppContext.Provider>;
}

export function useApp(): AppServices {
  const services = useContext(AppContext);
  if (!services) throw new Error("useApp() outside <AppProvider>");
  return services;
}

export function useExplorer() {
  const { explorer } = useApp();
  return useSyncExternalStore(explorer.subscribe, explorer.getSnapshot);
}
