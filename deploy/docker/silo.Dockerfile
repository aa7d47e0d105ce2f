# syntax=docker/dockerfile:1
# The silo on a GPU host: CUDA 13 + cuDNN runtime, the ASP.NET Core 10 runtime, ONNX Runtime's CUDA package.
# Build from the repository root:
#   docker build -f deploy/docker/silo.Dockerfile -t orleans-diffusion-silo .
# The base tag below is plausible but was NOT pulled or verified here (no Docker engine on the build machine);
# pick the newest nvidia/cuda 13.x "cudnn-runtime-ubuntu24.04" tag your registry serves.
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
ARG DOTNET_RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0-noble
ARG DOTNET_SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0-noble

FROM ${DOTNET_SDK_IMAGE} AS build
WORKDIR /src
COPY . .
# -p:OnnxRuntimeGpu=true swaps in Microsoft.ML.OnnxRuntime.Gpu.Linux (see Directory.Build.props).
RUN dotnet publish silo/OrleansDiffusion.Silo.csproj -c Release -p:OnnxRuntimeGpu=true -o /app \
    && rm -rf /app/runtimes/win-* /app/runtimes/osx-*

# The .NET runtime comes from Microsoft's Ubuntu 24.04 (noble) image, the same distribution as the CUDA base.
FROM ${DOTNET_RUNTIME_IMAGE} AS dotnet

FROM ${CUDA_IMAGE} AS final
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libicu74 curl tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1654 app && useradd --uid 1654 --gid app --create-home app
COPY --from=dotnet /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_RUNNING_IN_CONTAINER=true \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    Urls=http://+:8081 \
    Diffusion__Provider=cuda
WORKDIR /app
COPY --from=build /app .
USER app
# 11111 silo-to-silo, 30000 gateway, 8081 health/metrics/dashboard (ClusterHostingOptions defaults; --urls).
EXPOSE 11111 30000 8081
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD curl -fsS http://localhost:8081/health/live || exit 1
ENTRYPOINT ["dotnet", "OrleansDiffusion.Silo.dll"]
