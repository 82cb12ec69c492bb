#!/usr/bin/env python3
"""Builds the broker's container image from the static release binary, offline and unprivileged.

    scripts/make-image.py [OUTPUT_DIRECTORY]      (default .build/image; `make image` runs it)

Writes an OCI image (layout and archive: broker_VERSION.oci.tar, loadable with `podman load`,
`skopeo copy oci-archive:…` or `docker load` of a recent engine) holding nothing but what the
binary needs: /usr/bin/broker (stripped), every library `ldd` names and the dynamic loader, the
CA certificates (for amqps:// and wss://), /etc/passwd and /etc/group with the non-root user
`broker` (65532), the default rules in /etc/broker/rules, an empty /tmp and /var/lib/broker.
Its config: that user, `/usr/bin/broker` as the entrypoint, `run --config
/etc/broker/broker.yaml` as the command, the admin port 7391, and OpenContainers labels
(version, revision, source, licenses). It has no shell and no package manager. Kubernetes'
probes on /healthz and /readyz stand for a HEALTHCHECK, which the OCI format does not have.

No base image is pulled (none can be, here): the layer is assembled from this machine's files,
so the image runs where this machine's Debian runs. deploy/container/Containerfile builds the
same image from a clean checkout where images can be pulled.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_ID = 65532
ADMIN_PORT = 7391
# A fixed time for every file and the image, so the same inputs make the same image.
EPOCH = 0


def run(*command):
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def libraries(binary):
    """The files the dynamic loader opens for `binary`: what ldd resolves, and the loader."""
    found = []
    for line in run("ldd", binary).splitlines():
        parts = line.split()
        if "=>" in parts:
            path = parts[parts.index("=>") + 1]
            if path.startswith("/"):
                found.append(path)
        elif parts and parts[0].startswith("/"):
            found.append(parts[0])
    return found


def add_file(layer, source, path, mode=0o644, uid=0):
    info = layer.gettarinfo(source, arcname=path.lstrip("/"))
    info.mode, info.uid, info.gid, info.uname, info.gname, info.mtime = mode, uid, uid, "", "", EPOCH
    with open(source, "rb") as data:
        layer.addfile(info, data)


def add_bytes(layer, path, content, mode=0o644):
    info = tarfile.TarInfo(path.lstrip("/"))
    info.size, info.mode, info.mtime = len(content), mode, EPOCH
    layer.addfile(info, io.BytesIO(content))


def add_directory(layer, path, mode=0o755, uid=0):
    info = tarfile.TarInfo(path.lstrip("/"))
    info.type, info.mode, info.uid, info.gid, info.mtime = tarfile.DIRTYPE, mode, uid, uid, EPOCH
    layer.addfile(info)


def build_layer(binary, stripped):
    """The image's one layer, as an uncompressed tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        directories = set()

        def parents(path):
            parts = path.strip("/").split("/")[:-1]
            for index in range(1, len(parts) + 1):
                directory = "/" + "/".join(parts[:index])
                if directory not in directories:
                    directories.add(directory)
                    add_directory(layer, directory)

        for path in ["/usr/bin/broker"]:
            parents(path)
            add_file(layer, stripped, path, mode=0o755)
        for library in sorted(set(libraries(binary))):
            parents(library)
            add_file(layer, os.path.realpath(library), library, mode=0o755)
        certificates = "/etc/ssl/certs/ca-certificates.crt"
        if os.path.exists(certificates):
            parents(certificates)
            add_file(layer, certificates, certificates)
        parents("/etc/passwd")
        add_bytes(
            layer,
            "/etc/passwd",
            f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"broker:x:{USER_ID}:{USER_ID}:broker:/var/lib/broker:/usr/sbin/nologin\n".encode(),
        )
        add_bytes(layer, "/etc/group", f"root:x:0:\nbroker:x:{USER_ID}:\n".encode())
        parents("/etc/broker/rules/default.yaml")
        add_file(layer, os.path.join(ROOT, "rules/default.yaml"), "/etc/broker/rules/default.yaml")
        add_directory(layer, "/tmp", mode=0o1777)
        parents("/var/lib/broker")
        add_directory(layer, "/var/lib/broker", mode=0o750, uid=USER_ID)
    return buffer.getvalue()


def blob(directory, content):
    digest = hashlib.sha256(content).hexdigest()
    path = os.path.join(directory, "blobs", "sha256")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, digest), "wb") as file:
        file.write(content)
    return {"digest": "sha256:" + digest, "size": len(content)}


def main():
    output = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build/image"))
    binary = os.path.join(ROOT, ".build/release/broker")
    if not os.access(binary, os.X_OK):
        sys.exit(f"make-image: {binary} is missing: run make release")
    version_line = run(binary, "--version").split()
    version, revision = version_line[0], version_line[-1].rstrip(")")
    # A tag may not hold '+': the build metadata is written with '-' in the tag only.
    tag = version.replace("+", "-")
    architecture = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    print(f"make-image: broker {version} ({architecture})")

    os.makedirs(output, exist_ok=True)
    stripped = os.path.join(output, "broker.stripped")
    shutil.copyfile(binary, stripped)
    run("strip", "--strip-unneeded", "--remove-section=.comment", stripped)
    layer = build_layer(binary, stripped)
    os.remove(stripped)

    layout = os.path.join(output, "broker.oci")
    shutil.rmtree(layout, ignore_errors=True)
    os.makedirs(layout)
    with open(os.path.join(layout, "oci-layout"), "w") as file:
        json.dump({"imageLayoutVersion": "1.0.0"}, file)
    compressed = gzip.compress(layer, compresslevel=6, mtime=EPOCH)
    layer_blob = blob(layout, compressed)
    labels = {
        "org.opencontainers.image.title": "broker",
        "org.opencontainers.image.description": "Declarative message router for multi-agent systems",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": "https://github.com/broker/broker",
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    config = {
        "created": "1970-01-01T00:00:00Z",
        "architecture": architecture,
        "os": "linux",
        "config": {
            "User": f"{USER_ID}:{USER_ID}",
            "Entrypoint": ["/usr/bin/broker"],
            "Cmd": ["run", "--config", "/etc/broker/broker.yaml"],
            "Env": ["PATH=/usr/bin", "BROKER_RULES=/etc/broker/rules"],
            "WorkingDir": "/var/lib/broker",
            "ExposedPorts": {f"{ADMIN_PORT}/tcp": {}},
            "StopSignal": "SIGTERM",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "scripts/make-image.py"}],
    }
    config_blob = blob(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_blob},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer_blob}],
        "annotations": labels,
    }
    manifest_blob = blob(layout, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **manifest_blob,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    with open(os.path.join(layout, "index.json"), "w") as file:
        json.dump(index, file, sort_keys=True)

    archive = os.path.join(output, f"broker_{tag}.oci.tar")
    with tarfile.open(archive, "w") as tar:
        for name in sorted(os.listdir(layout)):
            tar.add(os.path.join(layout, name), arcname=name)
    size = layer_blob["size"] // 1024
    print(f"make-image: {archive} (tag {tag}; layer {size} KiB compressed, {len(layer) // 1024} KiB unpacked)")


if __name__ == "__main__":
    main()
