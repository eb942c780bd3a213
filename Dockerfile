# syntax=docker/dockerfile:1
# One image for every role: the command picks it (start | api | worker | demo-receiver).
# See README, "Run with Docker Compose", and docker-compose.yml.

# ---- build: full install (TypeScript is a devDependency), compile to dist/ ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Lockfile first, so the dependency layer is rebuilt only when dependencies change.
COPY package.json package-lock.json ./
# --ignore-scripts: package.json's `prepare` runs tsc, which would fail here before the sources
# are copied; it also skips native builds of dev-only packages (ssh2, cpu-features).
RUN npm ci --ignore-scripts --no-audit --no-fund
# The whole context (minus .dockerignore): tsconfig.build.json compiles src/, workers/ and bench/,
# and bench/ imports from test/helpers/, so copying a hand-picked list would break the build.
COPY . .
RUN npm run build

# ---- runtime: production dependencies, compiled JS and the policies files only ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
# A young generation sized for a worker's allocation rate (README, "Scaling out", Node flags):
# half the scavenge CPU per call for about 70 MiB more RSS. Run the API with NODE_OPTIONS=""
# (docker-compose.yml does): its real-time answers want V8's shorter default scavenge pauses.
ENV NODE_OPTIONS=--max-semi-space-size=64
# In a container loopback is unreachable from outside, so listen on every interface. The API
# still refuses to start on a non-loopback host without CALLHOOK_API_TOKEN (fails with one line).
ENV CALLHOOK_HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev leaves out TypeScript, so `prepare` (tsc) cannot run: --ignore-scripts. dist/ comes
# from the build stage. package.json stays in the image: the version (User-Agent) is read from it.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
# Files stay owned by root: the app runs as the image's unprivileged `node` user and cannot
# rewrite its own code or config.
USER node
EXPOSE 8080
# Liveness of the API (start/api). No curl in slim images, so node's built-in fetch.
# Services without the API (worker, demo-receiver) override or disable this in docker-compose.yml.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CALLHOOK_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/workers/cli.js", "start"]
