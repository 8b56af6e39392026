/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

/** Where the dev server sends API calls (the Compose `frontend` service sets it). */
const apiTarget = process.env.CONDUCTOR_API_URL ?? "http://127.0.0.1:14355";

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
      "/api": { target: apiTarget, changeOrigin: true },
      "/metrics": { target: apiTarget, changeOrigin: true },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
