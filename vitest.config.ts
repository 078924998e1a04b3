import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Interop tests start real daemons on loopback ports; files run in parallel processes,
    // so every test picks its own free port.
    pool: "forks",
  },
});
