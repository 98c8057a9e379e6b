# gw: one executable, nothing else. Build stage compiles dist/gw; the final image is scratch + the binary + glibc.
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json bunfig.toml ./
COPY src ./src
COPY scripts ./scripts
RUN npm run build \
 && mkdir -p /rootfs/lib/x86_64-linux-gnu /rootfs/lib64 /rootfs/tmp /rootfs/usr/local/kong \
 && cp dist/gw /rootfs/gw \
 && for lib in $(ldd dist/gw | grep -o '/lib[^ ]*'); do cp -L "$lib" "/rootfs$lib"; done \
 && chmod 1777 /rootfs/tmp

FROM scratch
COPY --from=build /rootfs /
# Same defaults as Kong's images: proxy 8000/8443, Admin API 8001, status 8007, cluster 8005.
EXPOSE 8000 8443 8001 8007 8005
ENV KONG_PREFIX=/usr/local/kong
ENTRYPOINT ["/gw"]
CMD ["start"]
