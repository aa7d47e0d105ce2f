# syntax=docker/dockerfile:1
# The HTTP API as an Orleans gateway client (Diffusion:Api:Mode=Client): no model files, no GPU.
# Build from the repository root:
#   docker build -f deploy/docker/api.Dockerfile -t orleans-diffusion-api .
ARG DOTNET_RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0
ARG DOTNET_SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0

FROM ${DOTNET_SDK_IMAGE} AS build
WORKDIR /src
COPY . .
RUN dotnet publish client-api/OrleansDiffusion.Api.csproj -c Release -o /app \
    && rm -rf /app/runtimes/win-* /app/runtimes/osx-*

FROM ${DOTNET_RUNTIME_IMAGE} AS final
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
ENV Urls=http://+:8080 \
    Diffusion__Api__Mode=Client
WORKDIR /app
COPY --from=build /app .
# The image's non-root user (UID 1654).
USER app
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS http://localhost:8080/health/live || exit 1
ENTRYPOINT ["dotnet", "OrleansDiffusion.Api.dll"]
