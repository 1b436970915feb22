"""Thin rclpy nodes over the ROS-free core in :mod:`physgen`. Standard message types only."""
