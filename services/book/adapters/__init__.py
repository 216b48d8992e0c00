"""I/O edges of the book service: bus subscriber, query responder, feed control, BBO publisher."""
