import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ApiClient, ApiKeyStore } from "./api/client";
import { ConductorApi } from "./api/endpoints";
import { App } from "./App";
import { AppProvider, type AppServices } from "./app/context";
import { NoticeStore } from "./app/notices";
import { ExplorerStore } from "./explorer/explorerStore";
import "./styles.css";

const keys = new ApiKeyStore();
const api = new ConductorApi(new ApiClient(keys));
const services: AppServices = { api, keys, explorer: new ExplorerStore(api), notices: new NoticeStore() };

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <AppProvider services={services}>
      <App />
    </AppProvider>
  </StrictMode>,
);
