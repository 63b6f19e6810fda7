"""Images: references, registry client, content store, overlay snapshots, the ImageService.

Entry points: `service.ImageService` (the CRI handlers) and `manager.ImageManager`
(`.images` for records, `.snapshotter` for container rootfs mounts).
"""
