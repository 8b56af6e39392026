/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin, type ProxyOptions } from "vite";

/** Where the dev server sends API calls (the Compose `frontend` service sets it). */
const apiTarget = process.env.CONDUCTOR_API_URL ?? "http://127.0.0.1:14355";

/**
 * The API refuses state-changing requests from other origins' pages. The dev server's
 * own pages are the UI itself, so their Origin is rewritten to the API's as the request
 * is proxied; any other page's Origin is passed on unchanged, and so refused there.
 */
const targetOrigin = new URL(apiTarget).origin;
const sameOriginProxy: ProxyOptions = {
  target: apiTarget,
  changeOrigin: true,
  configure(proxy) {
    proxy.on("proxyReq", (proxyReq, req) => {
      const origin = req.headers.origin;
      if (origin && req.headers.host && origin === `http://${req.headers.host}`) {
        proxyReq.setHeader("Origin", targetOrigin);
      }
    });
  },
};

/** The build lands inside the Python package, which serves it at /ui/. */
const outDir = fileURLToPath(new URL("../src/conductor_loop/web/dist", import.meta.url));

/** The dev server answers / with a redirect to /ui/, as the real server does. */
const redirectRoot: Plugin = {
  name: "conductor-redirect-root",
  configureServer(server) {
    server.middlewares.use((req, res, next) => {
      if (req.url !== "/") return next();
      res.statusCode = 307;
      res.setHeader("Location", "/ui/");
      res.end();
    });
  },
};

export default defineConfig({
  base: "/ui/",
  plugins: [redirectRoot],
  // esbuild compiles the TSX (React's automatic runtime): no Babel plugin needed.
  esbuild: { jsx: "automatic" },
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    port: 3000,
    strictPort: true,
    proxy: {
      "/api": sameOriginProxy,
      "/metrics": sameOriginProxy,
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
