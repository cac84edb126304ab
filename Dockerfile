# syntax=docker/dockerfile:1
# ragd: one image for every role (`serve`, `serve --worker`, `worker`, `migrate`).
#   docker build -t ragd .
#   docker run -p 8080:8080 ragd                 # embedded mode, data in /var/lib/ragd/data
# Cluster roles: see deploy/docker-compose.yml and docs/operations.md.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: every dependency, then the server (tsc → dist/) and the web console (console/dist/)
FROM ${NODE_IMAGE} AS build
# Toolchain for a native module without a prebuilt binary for this platform (better-sqlite3).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# .npmrc carries onnxruntime-node-install=skip (the OCR runtime ships its CPU build in the package;
# its install script would otherwise download CUDA files).
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY console ./console
COPY src ./src
COPY bin ./bin
# `npm ci` runs the `prepare` script: `npm run build` and `npm run console:build`.
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
# Production dependencies only, compiled for this same base image. onnxruntime-node (the OCR
# engine's runtime) ships its native library for every OS and CPU, ~250 MB: keep this platform's.
RUN npm prune --omit=dev --no-audit --no-fund \
 && arch="$(node -p process.arch)" \
 && find node_modules/onnxruntime-node/bin -mindepth 3 -maxdepth 3 -type d ! -path "*/linux/${arch}" -exec rm -rf {} +

# ---- runtime: production dependencies, compiled server and console, nothing else
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    RAGD_HOST=0.0.0.0 \
    RAGD_PORT=8080 \
    RAGD_DATA_DIR=/var/lib/ragd/data \
    RAGD_BLOB_DIR=/var/lib/ragd/blobs
WORKDIR /app
COPY --from=build /app/package.json /app/.npmrc ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/console/dist ./console/dist
COPY bin ./bin
COPY deploy/healthcheck.mjs ./deploy/healthcheck.mjs
# The image's `node` user (uid 1000) owns only the data and blob directories; the code is read-only to it.
RUN mkdir -p /var/lib/ragd/data /var/lib/ragd/blobs && chown -R node:node /var/lib/ragd
USER node
VOLUME ["/var/lib/ragd/data"]
EXPOSE 8080
# Liveness only (touches no dependency); orchestrators probe /readyz for routing.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "deploy/healthcheck.mjs", "/healthz"]
# No shell in between: node is PID 1 and receives SIGTERM itself, and ragd shuts down within
# RAGD_SHUTDOWN_TIMEOUT_MS. The flags are the launcher's shebang flags (test/unit/launch-flags.test.ts).
ENTRYPOINT ["node", "--v8-pool-size=1", "--max-semi-space-size=4", "--heap-growing-percent=50", "bin/ragd.js"]
CMD ["serve"]
