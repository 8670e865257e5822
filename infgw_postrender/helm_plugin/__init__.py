"""The Helm wiring: the Helm 4 post-renderer plugin that install-postrenderer places, and the
install/upgrade/template commands that run Helm with this post-renderer after checking flags Helm would hide.
"""
