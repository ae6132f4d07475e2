"""An image family: Ubuntu with the (fictional) XAcc SDK, whose packages come from the
vendor's mirror (or a local folder) by SDK version and architecture."""

from __future__ import annotations

from pathlib import Path

from harness.errors import ConfigError
from harness.images.families import ImageFamily, PackageRequest, Resolved

MIRROR = "https://download.xacc.example/sdk"


class XsdkFamily(ImageFamily):
    name = "xsdk"
    base = "ubuntu:{os_version}"
    axes = ("sdk",)
    templates = Path(__file__).parent / "templates"

    def check_axis(self, axis: str, values: list[str]) -> None:
        for v in values:
            if axis == "sdk" and not v[:1].isdigit():
                raise ValueError(f"sdk {v!r} is not a version")

    def resolve(self, request: PackageRequest) -> Resolved:
        sdk = request.variant.params["sdk"]
        package = f"xacc-sdk_{sdk}_{request.values['uname_arch']}.tar.gz"
        if request.packages_dir is not None:
            local = request.packages_dir / package
            if not local.is_file():
                raise ConfigError(f"XAcc SDK package {package} not found in {request.packages_dir}")
            return Resolved({"sdk_package": package, "sdk_url": None}, {f"xsdk/{package}": local})
        mirror = (request.mirror or MIRROR).rstrip("/")
        return Resolved({"sdk_package": package, "sdk_url": f"{mirror}/{sdk}/{package}"})
