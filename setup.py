"""Packaging detail pyproject.toml cannot say: the top-level kernels/ directory ships as fastnn.kernels."""
from setuptools import find_namespace_packages, find_packages, setup

engine = find_packages(include=["fastnn", "fastnn.*"])
kernel_pkgs = ["fastnn." + p for p in find_namespace_packages(include=["kernels", "kernels.*"])
               if "__pycache__" not in p]

setup(
    packages=engine + kernel_pkgs,
    package_dir={"fastnn.kernels": "kernels"},
)
