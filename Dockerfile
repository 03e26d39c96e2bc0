# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with the full dev toolchain.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json biome.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

# Runtime stage: only the compiled output and production dependencies, as a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
# Two malloc arenas, not one per thread: with media workers the per-thread arenas held a climbing
# RSS (README, "Running it for real").
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY sip-profiles ./sip-profiles
USER node
# SIP over UDP and TCP, the control API, and the default RTP port range (rtp.portMin..portMax,
# split between the media worker threads).
EXPOSE 5060/udp 5060/tcp 8080/tcp 10000-20000/udp
ENTRYPOINT ["node", "dist/src/cli/index.js"]
CMD ["start"]
