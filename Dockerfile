# One image for the pipeline worker, the training worker and serving; the command picks the
# process (npm run worker:pipeline | worker:training | serve). It builds from package
# registries only (Debian, npm, and Maven Central + PyPI for the offline native TensorFlow
# install in infra/native-tf/install.sh), never from tfjs-node's download from Google storage.
#
#   docker build -t storeloop .                                            # CPU
#   docker build -t storeloop-gpu --build-arg TF_VARIANT=gpu \
#     --build-arg BASE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04 .     # CUDA: TF 2.10 wants CUDA 11.2 and cuDNN 8.1
#
# Node.js comes from the official image, so any glibc-based BASE works. Build and runtime
# share BASE, so the native addon runs against the glibc it was compiled with.
ARG BASE=debian:bookworm-slim
FROM node:20-bookworm-slim AS node

FROM ${BASE} AS build
ARG TF_VARIANT=cpu
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=node /usr/local /usr/local
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git build-essential python3 python3-venv python3-pip maven default-jdk-headless \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY infra/native-tf infra/native-tf
RUN STORELOOP_TF_VARIANT=${TF_VARIANT} bash infra/native-tf/install.sh && npm run native:verify --silent
COPY . .
RUN npx tsc --noEmit

FROM ${BASE}
ENV NODE_ENV=production TF_CPP_MIN_LOG_LEVEL=2 STORELOOP_LOG_FORMAT=json
COPY --from=node /usr/local /usr/local
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build --chown=1000:1000 /app /app
USER 1000
# Serving listens on 8080 (writes need STORELOOP_SERVING_WRITE_TOKEN as a bearer token, else only loopback may write);
# the workers serve metrics on STORELOOP_<ROLE>_METRICS_ADDRESS (9464 in infra/k8s).
EXPOSE 8080 9464
CMD ["npm", "run", "serve", "--silent"]
