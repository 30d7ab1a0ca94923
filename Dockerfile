# syntax=docker/dockerfile:1
# DiT image service. CPU image:   docker build -t dit-service .
#                   CUDA image:  docker build --build-arg TORCH_BACKEND=cuda -t dit-service:cuda .
# Runs on Ubuntu 24.04 (the .NET 10 default base), whose libstdc++ (GCC 14) already has the GLIBCXX_3.4.32
# that TorchSharp 0.107 asks for, so the Debian 12 library patch is switched off here.
# The CUDA build bundles libtorch's CUDA libraries; the host needs only the NVIDIA driver and container toolkit.
# Not built in this repository's CI (no container engine there); `bash deploy/lint.sh` lints it. See docs/deployment.md.

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
ARG TORCH_BACKEND=cpu
WORKDIR /src
# Restore first, from the project files alone, so code edits reuse the (large) package layer.
COPY DiT.sln Directory.Build.props Directory.Build.targets Directory.Packages.props ./
COPY build/ build/
COPY src/DiT.Model/DiT.Model.csproj src/DiT.Model/
COPY src/DiT.Diffusion/DiT.Diffusion.csproj src/DiT.Diffusion/
COPY src/DiT.Training/DiT.Training.csproj src/DiT.Training/
COPY src/DiT.Serving/DiT.Serving.csproj src/DiT.Serving/
COPY src/DiT.Api/DiT.Api.csproj src/DiT.Api/
RUN dotnet restore src/DiT.Api/DiT.Api.csproj -p:TorchBackend=${TORCH_BACKEND}
COPY src/ src/
# The embedded default model (8 MB) and the latent one with its VAE (a few MB) ship in the image; larger models come
# from the /models volume.
COPY models/fashion-mnist/dit-fmnist.safetensors models/fashion-mnist/classes.txt models/fashion-mnist/
COPY models/fashion-mnist-latent/ models/fashion-mnist-latent/
RUN dotnet publish src/DiT.Api/DiT.Api.csproj -c Release --no-restore -o /app \
      -p:TorchBackend=${TORCH_BACKEND} -p:PatchLibTorchSharp=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble AS runtime
# curl serves the container health check only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl=8.5.* \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
# Model files and training data/jobs come from volumes; nothing large is baked into the image.
# /app stays read-only for the app user: everything the service writes goes under /data.
RUN mkdir -p /models /data/training-jobs /data/datasets && chown -R app:app /models /data
VOLUME ["/models", "/data"]
# Option names are the service's configuration keys (src/DiT.Api/appsettings.json) with "__" for ":".
# DOTNET_SHUTDOWNTIMEOUTSECONDS is the drain window on SIGTERM (queued requests finish, a running job checkpoints).
ENV ASPNETCORE_HTTP_PORTS=8080 \
    ASPNETCORE_ENVIRONMENT=Production \
    DOTNET_gcServer=1 \
    DOTNET_SHUTDOWNTIMEOUTSECONDS=60 \
    Training__JobsFolder=/data/training-jobs \
    Training__DataRoots__0=/data/datasets \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
EXPOSE 8080
USER app
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD curl -fsS http://localhost:8080/health/ready || exit 1
ENTRYPOINT ["dotnet", "DiT.Api.dll"]
