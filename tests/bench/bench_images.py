"""Images for the comparison benches: a static pause and a busybox `sleep` image."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from tests.fixtures.images import BUSYBOX, Image, LayerBuilder, build_image

log = logging.getLogger(__name__)

PAUSE_C = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = quit;
    sigaction(SIGINT, &sa, 0);
    sigaction(SIGTERM, &sa, 0);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &sa, 0);
    for (;;) pause();
}
"""


def build_pause_image(workdir: Path) -> tuple[Image, str]:
    """A static pause binary (gcc) in a one-file image; busybox `sleep` when gcc fails."""
    source, binary = workdir / "pause.c", workdir / "pause"
    source.write_text(PAUSE_C)
    built = subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(binary), str(source)],
                           capture_output=True)
    if built.returncode == 0:
        layer = LayerBuilder().file("pause", binary.read_bytes(), mode=0o755).build("gzip")
        return build_image([layer], {"Entrypoint": ["/pause"]}), "static pause"
    log.warning("gcc failed, pause is busybox sleep: %s", built.stderr[-300:])
    return build_pause_fallback(), "busybox sleep"


def build_sleep_image() -> Image:
    """busybox-static with applets as symlinks.

    Not the fixture's busybox image: its hardlink entries carry mode 0644, and containerd
    applies a hardlink's header mode to the shared inode, so every applet (busybox too)
    ends up not executable there.
    """
    layer = LayerBuilder()
    for directory in ("bin", "etc", "proc", "sys", "dev", "run", "var", "root"):
        layer.dir(directory, mode=0o700 if directory == "root" else 0o755)
    layer.dir("tmp", mode=0o1777)
    layer.file("bin/busybox", Path(BUSYBOX).read_bytes(), mode=0o755)
    for applet in ("sh", "sleep", "cat", "echo", "ls", "true"):
        layer.symlink(f"bin/{applet}", "busybox")
    layer.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    layer.file("etc/group", b"root:x:0:\n")
    path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return build_image([layer.build("gzip")], {"Env": [path], "Cmd": ["sh"]})


def build_pause_fallback() -> Image:
    return build_image(build_sleep_image().layers,
                       {"Entrypoint": ["/bin/sleep"], "Cmd": ["2147483647"]})
