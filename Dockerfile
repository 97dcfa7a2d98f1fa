# The nearpath image: one image, several entry points.
#   nearpath operator | nearpath csi | nearpath target
# Build: docker build -t nearpath:dev .
# kind:  kind load docker-image nearpath:dev --name nearpath
FROM python:3.11-slim-bookworm

# Data-path tools. open-iscsi/multipath-tools: diagnostics only (the node plugin runs the
# HOST's iscsiadm/multipath through the wrappers below, matching the host's daemons).
# targetcli-fb: operators' diagnostics in the target pod (the agent itself uses rtslib-fb).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      open-iscsi multipath-tools targetcli-fb sg3-utils \
      e2fsprogs xfsprogs util-linux kmod nftables udev ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Wrappers that run a host tool in the host's mount, UTS, IPC and network namespaces
# (PID 1 of NEARPATH_HOST_PROC, default /proc with hostPID). The chart puts this directory
# first on PATH of the node plugin.
COPY tools/host-exec /usr/local/lib/nearpath/host-exec
RUN mkdir -p /usr/local/lib/nearpath/host-tools \
 && for tool in iscsiadm multipath multipathd; do \
      ln -s ../host-exec "/usr/local/lib/nearpath/host-tools/$tool"; \
    done

WORKDIR /src
COPY pyproject.toml README.md ./
COPY nearpath ./nearpath
COPY core ./core
COPY operator ./operator
COPY csi ./csi
COPY target ./target
COPY preflight ./preflight
# nearpath/{core,operator,csi,target,preflight} are symlinks to the top-level folders: pip follows them.
RUN pip install --no-cache-dir . && rm -rf /src

WORKDIR /
# The data-path components (CSI node plugin, target agent) need root and privileged pods
# (configfs, iSCSI logins, device-mapper, mounts); the operator and CSI controller run as
# user 65532 through the chart's securityContext.
ENTRYPOINT ["nearpath"]
CMD ["--help"]
