# Multi-stage build of a small, non-root image of the shepherd binary.
# Front-end libraries come from npm at the versions pinned in package-lock.json.
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
# Only what the portal serves (the accessibility checkers are test tools).
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY web ./web
COPY views ./views
COPY static ./static
COPY internal ./internal
COPY ent ./ent
COPY migrations ./migrations
COPY --from=assets /src/node_modules/htmx.org/dist/htmx.min.js ./static/vendor/htmx.min.js
COPY --from=assets /src/node_modules/@picocss/pico/css/pico.min.css ./static/vendor/pico.min.css
COPY --from=assets /src/node_modules/@novnc/novnc/core ./static/vendor/novnc/core
COPY --from=assets /src/node_modules/@novnc/novnc/vendor ./static/vendor/novnc/vendor
COPY --from=assets /src/node_modules/@novnc/novnc/LICENSE.txt ./static/vendor/novnc/LICENSE.txt
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/shepherd ./cmd/shepherd

# distroless/static: no shell, no package manager; runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/shepherd /usr/local/bin/shepherd
USER 65532:65532
ENV SHEPHERD_ADDR=0.0.0.0:8080 \
    SHEPHERD_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/shepherd"]
CMD ["serve"]
