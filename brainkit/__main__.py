from brainkit.cli import main

raise SystemExit(main())
